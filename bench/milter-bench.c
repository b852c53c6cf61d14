/*
 * milter-bench.c - load client for the Sendmail milter protocol, version 6:
 * it plays the MTA side (as Postfix's smtpd/cleanup do) against a milter
 * listening on a unix or TCP socket, and measures messages per second,
 * latency, the replies and modifications it gets, and the CPU the milter
 * spends per message.
 *
 * Usage:
 *   milter-bench -s unix:PATH|inet:HOST:PORT -m FILE [-m FILE...] [options]
 * See usage() or bench/README.md.  Typical:
 *   milter-bench -s inet:127.0.0.1:8891 -m msg5k.eml -c 20 -d 10 -p PID
 *
 * Each of -c connections has its own thread and blocking socket.  Per SMTP
 * session (one milter connection, like Postfix): OPTNEG, CONNECT (+macros),
 * HELO; then per message: MAIL, RCPT, DATA, one HEADER per header field,
 * EOH, BODY chunks of at most 65535 bytes, BODYEOB, then the modification
 * requests up to the final reply, then ABORT (Postfix sends it after every
 * transaction; -E leaves it out).  A session carries -M messages (default:
 * no limit; 1 = a new connection per message).  Steps the milter declined
 * with SMFIP_NO* are not sent, replies declined with SMFIP_NR_* are not
 * awaited, header values keep their leading space only with
 * SMFIP_HDR_LEADSPC.  Macros: Postfix's default lists per stage, or the
 * lists the milter asked for with SMFIR_SETSYMLIST, from the values we
 * have (j, {daemon_name}, {daemon_addr}, v, _, {client_addr},
 * {client_name}, {client_port}, i, {auth_type}, {auth_authen},
 * {mail_addr}, {rcpt_addr}).  Output is buffered and written when a reply
 * is due, as Postfix's VSTREAM does.  TCP_NODELAY is set on inet sockets
 * unless -N (Postfix 3.7 does not set it; -N reproduces that).  -P also
 * reproduces Postfix's one other flush: smtpd writes the envelope steps
 * it did not need a reply for when it hands the milter socket to cleanup,
 * and cleanup then writes the header: with Nagle on and no reply to ACK
 * the first write, the second waits for the milter's delayed ACK.
 *
 * Output, on stdout (see report()):
 *   messages=N errors=N duration=S msgs_per_s=X p50_ms=.. p90_ms=.. p99_ms=.. max_ms=..
 *   reply accept@eom: N          (final reply and the step it came at)
 *   modify insheader=N addheader=N chgheader=N ...
 *   header DKIM-Signature: N     (inserted/added/changed header names)
 *   grep dkim=pass: N            (-g: inserted values containing a string)
 *   cpu milter_ms_per_msg=X milter_util=X bench_ms_per_msg=X   (-p PID)
 *   detail ...
 *
 * Functions: main and static helpers only; a standalone program
 * (cc -O2 -Wall -Wextra -o milter-bench milter-bench.c -lpthread).
 *
 * Trust: the milter is the system under test and is not trusted.  Every
 * reply packet length is checked (1..PKT_MAX), every reply is parsed
 * against its own length (NUL-terminated strings inside the packet, exact
 * sizes for fixed fields), modification requests are accepted only at
 * end of message, at most EOM_PACKETS_MAX packets per end of message.
 * Message files (-m) are trusted a little more but bounded too
 * (MSG_FILE_MAX, HEADERS_MAX, a header must fit in one packet).
 *
 * Errors: bad options or unreadable message files print a message and
 * exit 2.  At run time a protocol violation, a read/write error, EOF or a
 * timeout (-T) ends the run: the figures so far are printed with an
 * "error:" line naming the connection, the step and the problem, and the
 * exit status is 1.  With -k such errors are counted and the connection
 * is reopened after RETRY_MS instead.  Nothing here aborts on peer data.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "hist.h"

/* protocol constants (the milter protocol as libmilter's mfdef.h names it) */
#define MILTER_VERSION 6
#define SMFIC_ABORT 'A'
#define SMFIC_BODY 'B'
#define SMFIC_CONNECT 'C'
#define SMFIC_MACRO 'D'
#define SMFIC_BODYEOB 'E'
#define SMFIC_HELO 'H'
#define SMFIC_HEADER 'L'
#define SMFIC_MAIL 'M'
#define SMFIC_EOH 'N'
#define SMFIC_OPTNEG 'O'
#define SMFIC_QUIT 'Q'
#define SMFIC_RCPT 'R'
#define SMFIC_DATA 'T'

#define SMFIR_ADDRCPT '+'
#define SMFIR_DELRCPT '-'
#define SMFIR_ADDRCPT_PAR '2'
#define SMFIR_SHUTDOWN '4'
#define SMFIR_ACCEPT 'a'
#define SMFIR_REPLBODY 'b'
#define SMFIR_CONTINUE 'c'
#define SMFIR_DISCARD 'd'
#define SMFIR_CHGFROM 'e'
#define SMFIR_CONN_FAIL 'f'
#define SMFIR_ADDHEADER 'h'
#define SMFIR_INSHEADER 'i'
#define SMFIR_CHGHEADER 'm'
#define SMFIR_PROGRESS 'p'
#define SMFIR_QUARANTINE 'q'
#define SMFIR_REJECT 'r'
#define SMFIR_SKIP 's'
#define SMFIR_TEMPFAIL 't'
#define SMFIR_REPLYCODE 'y'

#define SMFIP_NOCONNECT 0x1u
#define SMFIP_NOHELO 0x2u
#define SMFIP_NOMAIL 0x4u
#define SMFIP_NORCPT 0x8u
#define SMFIP_NOBODY 0x10u
#define SMFIP_NOHDRS 0x20u
#define SMFIP_NOEOH 0x40u
#define SMFIP_NR_HDR 0x80u
#define SMFIP_NOUNKNOWN 0x100u
#define SMFIP_NODATA 0x200u
#define SMFIP_SKIP 0x400u
#define SMFIP_RCPT_REJ 0x800u
#define SMFIP_NR_CONN 0x1000u
#define SMFIP_NR_HELO 0x2000u
#define SMFIP_NR_MAIL 0x4000u
#define SMFIP_NR_RCPT 0x8000u
#define SMFIP_NR_DATA 0x10000u
#define SMFIP_NR_UNKN 0x20000u
#define SMFIP_NR_EOH 0x40000u
#define SMFIP_NR_BODY 0x80000u
#define SMFIP_HDR_LEADSPC 0x100000u
#define PROT_OFFERED 0x1FFFFFu	/* every v6 step and reply flag, no MDS */
#define ACTS_OFFERED 0x1FFu	/* every v6 modification */

/* limits */
#define PKT_MAX (1024 * 1024)	/* longest packet accepted from the milter */
#define CHUNK_MAX 65535		/* body chunk, MILTER_CHUNK_SIZE */
#define SEND_DATA_MAX 65535	/* one packet we send (MILTER_MAX_DATA_SIZE) */
#define OUT_CAP (CHUNK_MAX + 16 * 1024)	/* write buffer per connection */
#define IN_CAP (64 * 1024)	/* read buffer per connection */
#define EOM_PACKETS_MAX 100000	/* packets accepted at one end of message */
#define MSG_FILE_MAX (32 * 1024 * 1024)
#define MSG_FILES_MAX 64
#define HEADERS_MAX 2000	/* header fields per message file */
#define CONNS_MAX 4096
#define NAMES_MAX 32		/* distinct header names counted */
#define NAME_LEN 64		/* bytes kept of a header name */
#define GREPS_MAX 8
#define PIDS_MAX 8
#define SYMLIST_MAX 1024	/* one macro list from the milter */
#define TEXT_MAX 256		/* option strings: addresses, names */
#define TARGET_LEN 512
#define ERR_LEN 512		/* one error detail */
#define FIRST_ERR_LEN (ERR_LEN + 128)
#define RETRY_MS 50
#define STOP_WAIT_S 5		/* wait for threads to finish at the end */
#define CAPTURE_HEADERS_MAX (HEADERS_MAX + 1000)
#define PENDING_NAMES 16	/* header names remembered for one message */

#define NS_PER_MS 1000000LL
#define NS_PER_S 1000000000LL

/* the step a final reply came at */
enum step {
	ST_CONNECT, ST_HELO, ST_MAIL, ST_RCPT, ST_DATA, ST_HEADER, ST_EOH,
	ST_BODY, ST_EOM, ST_OPTNEG, ST_COUNT
};
static const char *const step_names[ST_COUNT] = {
	"connect", "helo", "mail", "rcpt", "data", "header", "eoh", "body",
	"eom", "optneg"
};

enum reply_kind {
	RK_CONTINUE, RK_ACCEPT, RK_REJECT, RK_TEMPFAIL, RK_REPLY4, RK_REPLY5,
	RK_DISCARD, RK_SHUTDOWN, RK_CONNFAIL, RK_COUNT
};
static const char *const reply_names[RK_COUNT] = {
	"continue", "accept", "reject", "tempfail", "replycode-4xx",
	"replycode-5xx", "discard", "shutdown", "conn_fail"
};

enum mod_kind {
	MK_INSHEADER, MK_ADDHEADER, MK_CHGHEADER, MK_DELHEADER, MK_QUARANTINE,
	MK_REPLBODY, MK_ADDRCPT, MK_DELRCPT, MK_CHGFROM, MK_PROGRESS, MK_COUNT
};
static const char *const mod_names[MK_COUNT] = {
	"insheader", "addheader", "chgheader", "delheader", "quarantine",
	"replbody", "addrcpt", "delrcpt", "chgfrom", "progress"
};

enum err_kind { EK_CONNECT, EK_IO, EK_EOF, EK_TIMEOUT, EK_PROTO, EK_COUNT };
static const char *const err_names[EK_COUNT] = {
	"connect", "io", "eof", "timeout", "protocol"
};

/* milter stage indexes of SMFIR_SETSYMLIST (SMFIM_*) and their commands */
#define STAGES 7
static const char stage_cmd[STAGES] = { 'C', 'H', 'M', 'R', 'T', 'E', 'N' };
static const char *const stage_default[STAGES] = {
	/* Postfix 3.7's milter_*_macros defaults */
	"j {daemon_name} {daemon_addr} v _",
	"{tls_version} {cipher} {cipher_bits} {cert_subject} {cert_issuer}",
	"i {auth_type} {auth_authen} {auth_author} {mail_addr} {mail_host} {mail_mailer}",
	"i {rcpt_addr} {rcpt_host} {rcpt_mailer}",
	"i",
	"i",
	"i",
};
enum { SM_CONNECT, SM_HELO, SM_MAIL, SM_RCPT, SM_DATA, SM_EOM, SM_EOH };

struct name_count {
	char name[NAME_LEN];
	uint64_t n;
};

struct stats {
	struct hist h;
	uint64_t msgs;			/* final replies in the window */
	uint64_t warm_msgs;
	uint64_t reply[RK_COUNT][ST_COUNT];
	uint64_t mods[MK_COUNT];
	struct name_count names[NAMES_MAX];
	size_t nnames;
	uint64_t names_other;
	uint64_t grep[GREPS_MAX];
	uint64_t err[EK_COUNT];
	uint64_t connects;
	uint64_t sessions_cut;		/* sessions ended by a connection-level reply */
};

struct header {
	char *name;
	size_t nlen;
	char *value;		/* after the colon, leading space kept, folds as "\n" */
	size_t vlen;
};

struct msgfile {
	const char *path;
	const char *mail_from;	/* envelope sender of this file (-f) */
	struct header *h;
	size_t nh;
	char *body;		/* CRLF line ends */
	size_t blen;
};

/* what one message got, counted when it completes inside the window */
struct pending {
	uint64_t mods[MK_COUNT];
	uint64_t grep[GREPS_MAX];
	char names[PENDING_NAMES][NAME_LEN];
	size_t nnames;
	uint64_t names_over;
};

/* a copy of one message's header as the milter edits it (-O) */
struct capture {
	char *name[CAPTURE_HEADERS_MAX];
	char *value[CAPTURE_HEADERS_MAX];	/* without the leading space */
	size_t n;
	int overflow;
};

struct conn {
	int id;
	pthread_t tid;
	int fd;
	int in_session;		/* CONNECT/HELO done on this connection */
	uint64_t session_msgs;
	uint32_t version, actions, pflags;	/* negotiated */
	char *symlist[STAGES];	/* milter's macro lists, NULL: default */
	unsigned char *out;
	size_t out_len;
	unsigned char *in;
	size_t in_off, in_len;
	unsigned char *pkt;	/* data of the last packet read */
	size_t pkt_cap, pkt_len;
	char qid[24];
	uint64_t msgno;		/* global number of the current message */
	const char *mail_from;	/* envelope sender of the current message */
	struct capture *cap;	/* -O: this message is captured */
	struct pending pend;	/* counts of the current message */
	pthread_mutex_t mu;
	struct stats st;
	int done;
};

struct opts {
	char target[TARGET_LEN];
	struct sockaddr_storage addr;
	socklen_t addrlen;
	long conns;
	double duration, warmup, timeout;
	uint64_t max_msgs;		/* -n, 0: no limit */
	uint64_t per_conn;		/* -M, 0: no limit */
	int nodelay;			/* TCP_NODELAY on inet sockets */
	int no_abort;			/* -E */
	int postfix_writes;		/* -P: flush the envelope before the header */
	int keep_going;			/* -k */
	int verbose;
	char client_addr[TEXT_MAX];
	int client_family;		/* '4' or '6' */
	char client_name[TEXT_MAX];
	char helo[TEXT_MAX];
	char mail_from[TEXT_MAX];	/* the first -f, or the default */
	char *mail_froms[MSG_FILES_MAX];	/* every -f, in order */
	size_t nfroms;
	char rcpt_to[TEXT_MAX];
	char j[TEXT_MAX];
	char daemon_name[TEXT_MAX];
	char auth_user[TEXT_MAX];
	struct msgfile files[MSG_FILES_MAX];
	size_t nfiles;
	const char *greps[GREPS_MAX];
	size_t ngreps;
	pid_t pids[PIDS_MAX];
	size_t npids;
	const char *capture_path;
};

static struct opts opt;
static atomic_int phase;		/* 0 warm-up, 1 measuring, 2 stopping */
static atomic_int failed;		/* an error ends the run */
static atomic_uint_fast64_t tickets;	/* -n */
static atomic_uint_fast64_t msg_counter;
static atomic_uint_fast64_t measured_total;
static atomic_int capture_taken;
static atomic_int verbose_shown;
static atomic_int threads_done;
static volatile sig_atomic_t stop_flag;
static pthread_mutex_t err_mu = PTHREAD_MUTEX_INITIALIZER;
static char first_error[FIRST_ERR_LEN];

/* die - print a message and exit 2 (options and setup only) */
static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	fputs("milter-bench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

/* xmalloc - zeroed memory or die */
static void *xmalloc(size_t n)
{
	void *p = calloc(1, n ? n : 1);

	if (p == NULL)
		die("out of memory (%zu bytes)", n);
	return p;
}

/* xstrndup - copy n bytes plus a NUL or die */
static char *xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);

	memcpy(p, s, n);
	p[n] = 0;
	return p;
}

/* now_ns - CLOCK_MONOTONIC in nanoseconds */
static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

/* on_signal - SIGINT/SIGTERM: stop and report */
static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

/* ---------------------------------------------------------------- options */

/* parse_long - decimal integer in [min, max] or die */
static long parse_long(const char *s, long min, long max, char optc)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		die("-%c: expected an integer in %ld..%ld, got \"%.40s\"", optc, min, max, s);
	return v;
}

/* parse_seconds - non-negative decimal seconds or die */
static double parse_seconds(const char *s, double max, char optc)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= 0) || v > max)
		die("-%c: expected seconds in 0..%g, got \"%.40s\"", optc, max, s);
	return v;
}

/* set_text - copy an option string into a fixed field or die */
static void set_text(char *dst, size_t cap, const char *s, char optc)
{
	int n = snprintf(dst, cap, "%s", s);

	if (n < 0 || (size_t)n >= cap)
		die("-%c: longer than %zu bytes", optc, cap - 1);
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			die("-%c: control character in \"%.40s\"", optc, s);
}

/* parse_target - inet:HOST:PORT, inet:[V6]:PORT or unix:PATH */
static void parse_target(const char *s)
{
	int n = snprintf(opt.target, sizeof(opt.target), "%s", s);

	if (n < 0 || (size_t)n >= sizeof(opt.target))
		die("-s: target too long");
	if (strncmp(s, "unix:", 5) == 0 || strncmp(s, "local:", 6) == 0) {
		struct sockaddr_un *su = (struct sockaddr_un *)&opt.addr;
		const char *path = strchr(s, ':') + 1;

		if (*path == 0 || strlen(path) >= sizeof(su->sun_path))
			die("-s: bad unix socket path");
		su->sun_family = AF_UNIX;
		memcpy(su->sun_path, path, strlen(path) + 1);
		opt.addrlen = (socklen_t)sizeof(*su);
		return;
	}
	if (strncmp(s, "inet:", 5) == 0) {
		char host[TARGET_LEN];
		const char *hp = s + 5, *colon, *port;
		size_t hlen;
		struct addrinfo hints, *res;
		int rc;

		colon = strrchr(hp, ':');
		if (colon == NULL || colon[1] == 0)
			die("-s: expected inet:HOST:PORT");
		port = colon + 1;
		hlen = (size_t)(colon - hp);
		if (hlen >= 2 && hp[0] == '[' && hp[hlen - 1] == ']') {
			hp++;
			hlen -= 2;
		}
		if (hlen == 0 || hlen >= sizeof(host))
			die("-s: bad host");
		memcpy(host, hp, hlen);
		host[hlen] = 0;
		memset(&hints, 0, sizeof(hints));
		hints.ai_family = AF_UNSPEC;
		hints.ai_socktype = SOCK_STREAM;
		hints.ai_flags = AI_NUMERICSERV;
		rc = getaddrinfo(host, port, &hints, &res);
		if (rc != 0)
			die("-s: %s: %s", s, gai_strerror(rc));
		if (res->ai_addrlen > sizeof(opt.addr))
			die("-s: address too long");
		memcpy(&opt.addr, res->ai_addr, res->ai_addrlen);
		opt.addrlen = res->ai_addrlen;
		freeaddrinfo(res);
		return;
	}
	die("-s: expected inet:HOST:PORT or unix:PATH, got \"%.60s\"", s);
}

/* parse_client - -a ADDR: the SMTP client address given to the milter */
static void parse_client(const char *s)
{
	unsigned char buf[16];

	if (inet_pton(AF_INET, s, buf) == 1)
		opt.client_family = '4';
	else if (inet_pton(AF_INET6, s, buf) == 1)
		opt.client_family = '6';
	else
		die("-a: not an IPv4 or IPv6 address: \"%.60s\"", s);
	set_text(opt.client_addr, sizeof(opt.client_addr), s, 'a');
}

/* msg_add_header - keep one header field of a message file */
static void msg_add_header(struct msgfile *m, const char *line, size_t len)
{
	const char *colon = memchr(line, ':', len);
	struct header *h;
	size_t nlen;

	if (colon == NULL || colon == line)
		die("%s: header line without a field name: \"%.60s\"", m->path, line);
	nlen = (size_t)(colon - line);
	while (nlen > 0 && (line[nlen - 1] == ' ' || line[nlen - 1] == '\t'))
		nlen--;
	if (nlen == 0 || nlen >= NAME_LEN * 4)
		die("%s: bad header field name \"%.60s\"", m->path, line);
	for (size_t i = 0; i < nlen; i++)
		if ((unsigned char)line[i] <= ' ' || line[i] == 0x7f)
			die("%s: bad header field name \"%.60s\"", m->path, line);
	if (m->nh >= HEADERS_MAX)
		die("%s: more than %d header fields", m->path, HEADERS_MAX);
	/* name NUL value NUL must fit in one packet */
	if (len + 3 > SEND_DATA_MAX)
		die("%s: header field %.*s longer than one milter packet", m->path,
		    (int)(nlen > 60 ? 60 : nlen), line);
	h = &m->h[m->nh++];
	h->name = xstrndup(line, nlen);
	h->nlen = nlen;
	h->vlen = len - (size_t)(colon + 1 - line);
	h->value = xstrndup(colon + 1, h->vlen);
	if (memchr(h->value, 0, h->vlen) != NULL)
		die("%s: NUL byte in header %s", m->path, h->name);
}

/* msg_load - read an RFC 5322 file (LF or CRLF): header fields with folds
 * joined by "\n" (as Postfix passes them), body with CRLF line ends */
static void msg_load(const char *path)
{
	struct msgfile *m;
	FILE *fp;
	char *data, *p, *end, *field = NULL;
	size_t n, flen = 0, fcap = 0;
	int in_body = 0;

	if (opt.nfiles >= MSG_FILES_MAX)
		die("-m: more than %d files", MSG_FILES_MAX);
	m = &opt.files[opt.nfiles++];
	m->path = path;
	m->h = xmalloc(sizeof(*m->h) * HEADERS_MAX);
	if ((fp = fopen(path, "rb")) == NULL)
		die("%s: %s", path, strerror(errno));
	data = xmalloc(MSG_FILE_MAX + 1);
	n = fread(data, 1, MSG_FILE_MAX + 1, fp);
	if (ferror(fp))
		die("%s: read error", path);
	fclose(fp);
	if (n > MSG_FILE_MAX)
		die("%s: larger than %d bytes", path, MSG_FILE_MAX);
	m->body = xmalloc(2 * n + 2);	/* every LF may become CRLF */
	p = data;
	end = data + n;
	while (p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t raw = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
		size_t ll = nl ? raw - 1 : raw;

		if (ll > 0 && p[ll - 1] == '\r')
			ll--;
		if (in_body) {
			memcpy(m->body + m->blen, p, ll);
			m->blen += ll;
			m->body[m->blen++] = '\r';
			m->body[m->blen++] = '\n';
		} else if (ll == 0) {
			in_body = 1;
		} else if (p[0] == ' ' || p[0] == '\t') {
			if (flen == 0)
				die("%s: continuation line before any header field", path);
			if (flen + 1 + ll > fcap) {
				fcap = (flen + 1 + ll) * 2;
				if ((field = realloc(field, fcap)) == NULL)
					die("out of memory");
			}
			field[flen++] = '\n';
			memcpy(field + flen, p, ll);
			flen += ll;
		} else {
			if (flen > 0)
				msg_add_header(m, field, flen);
			flen = 0;
			if (ll > fcap) {
				fcap = ll * 2;
				if ((field = realloc(field, fcap)) == NULL)
					die("out of memory");
			}
			memcpy(field, p, ll);
			flen = ll;
		}
		p += raw;
	}
	if (flen > 0)
		msg_add_header(m, field, flen);
	free(field);
	free(data);
	if (m->nh == 0)
		die("%s: no header field", path);
}

/* usage - print options and exit 2 */
static void usage(void)
{
	fputs("usage: milter-bench -s unix:PATH|inet:HOST:PORT -m FILE [options]\n"
	    "  -m FILE     RFC 5322 message (LF or CRLF); repeat to cycle through several\n"
	    "  -c N        connections, one thread each (default 20)\n"
	    "  -d SECONDS  measured duration (default 10)\n"
	    "  -w SECONDS  warm-up before measuring (default 1)\n"
	    "  -n N        stop after N measured messages (-w 0 to send exactly N)\n"
	    "  -M N        messages per milter connection, 0 = no limit (default),\n"
	    "              1 = a new connection for each message\n"
	    "  -T SECONDS  timeout for connect and each reply (default 30)\n"
	    "  -N          no TCP_NODELAY on inet sockets (what Postfix does)\n"
	    "  -E          no ABORT after each message (Postfix sends one)\n"
	    "  -P          Postfix's writes: -N, and the envelope steps the milter does\n"
	    "              not answer are written before the header, in a write of their\n"
	    "              own (smtpd hands the socket to cleanup there)\n"
	    "  -a ADDR     SMTP client address in CONNECT and {client_addr} (default 127.0.0.1)\n"
	    "  -H NAME     SMTP client host name (default [ADDR])\n"
	    "  -e NAME     HELO name (default client.bench.example)\n"
	    "  -f ADDR     envelope sender (default bench@example.com); repeat it, once\n"
	    "              per -m, to give each message file its own sender\n"
	    "  -r ADDR     envelope recipient (default user@example.net)\n"
	    "  -j NAME     macro j, the MTA's name (default mx.bench.example)\n"
	    "  -D NAME     macro {daemon_name} (default bench)\n"
	    "  -u USER     SASL login: macros {auth_authen}, {auth_type}=PLAIN\n"
	    "  -g STRING   count inserted/added/changed header values containing\n"
	    "              STRING (up to 8)\n"
	    "  -p PID      milter process: CPU per message from /proc/PID/stat (up to 8)\n"
	    "  -O FILE     write the first message as the milter modified it\n"
	    "  -k          keep going after errors (count them, reconnect)\n"
	    "  -v          print the negotiation and the first message's replies\n", stderr);
	exit(2);
}

/* parse_options - fill opt from argv */
static void parse_options(int argc, char **argv)
{
	int c, have_target = 0;

	opt.conns = 20;
	opt.duration = 10;
	opt.warmup = 1;
	opt.timeout = 30;
	opt.nodelay = 1;
	parse_client("127.0.0.1");
	set_text(opt.helo, sizeof(opt.helo), "client.bench.example", 'e');
	set_text(opt.mail_from, sizeof(opt.mail_from), "bench@example.com", 'f');
	set_text(opt.rcpt_to, sizeof(opt.rcpt_to), "user@example.net", 'r');
	set_text(opt.j, sizeof(opt.j), "mx.bench.example", 'j');
	set_text(opt.daemon_name, sizeof(opt.daemon_name), "bench", 'D');
	while ((c = getopt(argc, argv, "s:m:c:d:w:n:M:T:NEPa:H:e:f:r:j:D:u:g:p:O:kvh")) != -1) {
		switch (c) {
		case 's':
			parse_target(optarg);
			have_target = 1;
			break;
		case 'm':
			msg_load(optarg);
			break;
		case 'c':
			opt.conns = parse_long(optarg, 1, CONNS_MAX, 'c');
			break;
		case 'd':
			opt.duration = parse_seconds(optarg, 1e6, 'd');
			break;
		case 'w':
			opt.warmup = parse_seconds(optarg, 1e6, 'w');
			break;
		case 'n':
			opt.max_msgs = (uint64_t)parse_long(optarg, 1, LONG_MAX, 'n');
			break;
		case 'M':
			opt.per_conn = (uint64_t)parse_long(optarg, 0, LONG_MAX, 'M');
			break;
		case 'T':
			opt.timeout = parse_seconds(optarg, 1e5, 'T');
			if (opt.timeout < 0.001)
				die("-T: must be positive");
			break;
		case 'N':
			opt.nodelay = 0;
			break;
		case 'E':
			opt.no_abort = 1;
			break;
		case 'P':
			opt.postfix_writes = 1;
			opt.nodelay = 0;
			break;
		case 'a':
			parse_client(optarg);
			break;
		case 'H':
			set_text(opt.client_name, sizeof(opt.client_name), optarg, 'H');
			break;
		case 'e':
			set_text(opt.helo, sizeof(opt.helo), optarg, 'e');
			break;
		case 'f':
			if (opt.nfroms >= MSG_FILES_MAX)
				die("-f: at most %d senders", MSG_FILES_MAX);
			if (opt.nfroms == 0)
				set_text(opt.mail_from, sizeof(opt.mail_from), optarg, 'f');
			else if (strlen(optarg) >= TEXT_MAX)
				die("-f: longer than %d bytes", TEXT_MAX - 1);
			opt.mail_froms[opt.nfroms++] = optarg;
			break;
		case 'r':
			set_text(opt.rcpt_to, sizeof(opt.rcpt_to), optarg, 'r');
			break;
		case 'j':
			set_text(opt.j, sizeof(opt.j), optarg, 'j');
			break;
		case 'D':
			set_text(opt.daemon_name, sizeof(opt.daemon_name), optarg, 'D');
			break;
		case 'u':
			set_text(opt.auth_user, sizeof(opt.auth_user), optarg, 'u');
			break;
		case 'g':
			if (opt.ngreps >= GREPS_MAX)
				die("-g: at most %d strings", GREPS_MAX);
			if (*optarg == 0)
				die("-g: empty string");
			opt.greps[opt.ngreps++] = optarg;
			break;
		case 'p':
			if (opt.npids >= PIDS_MAX)
				die("-p: at most %d processes", PIDS_MAX);
			opt.pids[opt.npids++] = (pid_t)parse_long(optarg, 1, INT_MAX, 'p');
			break;
		case 'O':
			opt.capture_path = optarg;
			break;
		case 'k':
			opt.keep_going = 1;
			break;
		case 'v':
			opt.verbose = 1;
			break;
		default:
			usage();
		}
	}
	if (optind != argc || !have_target)
		usage();
	if (opt.nfiles == 0)
		die("no message file (-m)");
	/* one -f for all files, or one per -m, paired in order */
	if (opt.nfroms > 1 && opt.nfroms != opt.nfiles)
		die("-f given %zu times for %zu -m files: give one, or one per file",
		    opt.nfroms, opt.nfiles);
	for (size_t i = 0; i < opt.nfiles; i++)
		opt.files[i].mail_from = opt.nfroms > 1 ? opt.mail_froms[i] : opt.mail_from;
	if (opt.client_name[0] == 0) {
		int n = snprintf(opt.client_name, sizeof(opt.client_name), "[%s]", opt.client_addr);

		if (n < 0 || (size_t)n >= sizeof(opt.client_name))
			die("-a: address too long");
	}
}

/* ---------------------------------------------------------------- CPU */

/* proc_cpu_ticks - utime+stime+cutime+cstime of a process (all its
 * threads), in clock ticks; -1 if it cannot be read */
static long long proc_cpu_ticks(pid_t pid)
{
	char path[64], buf[1024], *p;
	long long v[4];
	FILE *fp;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((fp = fopen(path, "r")) == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = 0;
	/* the command name may hold spaces and parentheses: skip to the last ')' */
	if ((p = strrchr(buf, ')')) == NULL)
		return -1;
	/* after ')': state ppid pgrp session tty tpgid flags minflt cminflt
	 * majflt cmajflt utime stime cutime cstime */
	if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lld %lld %lld %lld",
	    &v[0], &v[1], &v[2], &v[3]) != 4)
		return -1;
	return v[0] + v[1] + v[2] + v[3];
}

/* cpu_sample - summed CPU seconds of the -p processes; -1 on error */
static double cpu_sample(void)
{
	long long sum = 0;
	long hz = sysconf(_SC_CLK_TCK);

	for (size_t i = 0; i < opt.npids; i++) {
		long long t = proc_cpu_ticks(opt.pids[i]);

		if (t < 0)
			return -1;
		sum += t;
	}
	return hz > 0 ? (double)sum / (double)hz : -1;
}

/* self_cpu - our own CPU seconds */
static double self_cpu(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0;
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6
	    + (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* ---------------------------------------------------------------- errors */

/* conn_error - record an error on a connection; returns -1.  The first
 * error of the run is kept for the report and, without -k, ends the run. */
static int conn_error(struct conn *c, enum err_kind kind, enum step st, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int conn_error(struct conn *c, enum err_kind kind, enum step st, const char *fmt, ...)
{
	char detail[ERR_LEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&c->mu);
	c->st.err[kind]++;
	pthread_mutex_unlock(&c->mu);
	pthread_mutex_lock(&err_mu);
	if (first_error[0] == 0)
		snprintf(first_error, sizeof(first_error),
		    "connection %d, message %s, at %s: %s: %s", c->id,
		    c->qid[0] ? c->qid : "-", step_names[st], err_names[kind], detail);
	pthread_mutex_unlock(&err_mu);
	if (!opt.keep_going)
		atomic_store(&failed, 1);
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
	c->in_session = 0;
	c->out_len = 0;
	c->in_off = c->in_len = 0;
	return -1;
}

/* ---------------------------------------------------------------- output */

/* out_flush - write the buffered packets */
static int out_flush(struct conn *c, enum step st)
{
	size_t off = 0;

	while (off < c->out_len) {
		ssize_t n = send(c->fd, c->out + off, c->out_len - off, MSG_NOSIGNAL);

		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return conn_error(c, EK_TIMEOUT, st, "write blocked for %.1f s", opt.timeout);
		return conn_error(c, EK_IO, st, "write: %s", n < 0 ? strerror(errno) : "0 bytes");
	}
	c->out_len = 0;
	return 0;
}

/* out_packet - append one packet: command, then parts (ptr, len pairs,
 * ended by NULL); flushes first when it would not fit */
static int out_packet(struct conn *c, enum step st, char cmd, ...)
{
	va_list ap;
	size_t total = 0, len;
	const void *part;
	uint32_t nlen;

	va_start(ap, cmd);
	while ((part = va_arg(ap, const void *)) != NULL) {
		len = va_arg(ap, size_t);
		total += len;
	}
	va_end(ap);
	if (total > SEND_DATA_MAX)
		return conn_error(c, EK_PROTO, st, "our packet of %zu bytes is too long (bug)", total);
	if (c->out_len + 5 + total > OUT_CAP && out_flush(c, st) != 0)
		return -1;
	nlen = htonl((uint32_t)(total + 1));
	memcpy(c->out + c->out_len, &nlen, 4);
	c->out[c->out_len + 4] = (unsigned char)cmd;
	c->out_len += 5;
	va_start(ap, cmd);
	while ((part = va_arg(ap, const void *)) != NULL) {
		len = va_arg(ap, size_t);
		memcpy(c->out + c->out_len, part, len);
		c->out_len += len;
	}
	va_end(ap);
	return 0;
}

/* ---------------------------------------------------------------- input */

/* in_fill - read more bytes into the input buffer */
static int in_fill(struct conn *c, enum step st)
{
	ssize_t n;

	if (c->in_off > 0) {
		memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
		c->in_len -= c->in_off;
		c->in_off = 0;
	}
	for (;;) {
		n = recv(c->fd, c->in + c->in_len, IN_CAP - c->in_len, 0);
		if (n > 0) {
			c->in_len += (size_t)n;
			return 0;
		}
		if (n == 0)
			return conn_error(c, EK_EOF, st, "the milter closed the connection");
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return conn_error(c, EK_TIMEOUT, st, "no reply within %.1f s", opt.timeout);
		return conn_error(c, EK_IO, st, "read: %s", strerror(errno));
	}
}

/* in_read - copy exactly len bytes from the connection */
static int in_read(struct conn *c, enum step st, unsigned char *dst, size_t len)
{
	while (len > 0) {
		size_t avail = c->in_len - c->in_off, take;

		if (avail == 0) {
			if (in_fill(c, st) != 0)
				return -1;
			continue;
		}
		take = avail < len ? avail : len;
		memcpy(dst, c->in + c->in_off, take);
		c->in_off += take;
		dst += take;
		len -= take;
	}
	return 0;
}

/* read_packet - flush what we wrote, then read one packet; the command in
 * *cmd_r, its data in c->pkt[0..c->pkt_len) (NUL-terminated for safety) */
static int read_packet(struct conn *c, enum step st, char *cmd_r)
{
	unsigned char hdr[4], cmd;
	uint32_t len;

	if (c->out_len > 0 && out_flush(c, st) != 0)
		return -1;
	if (in_read(c, st, hdr, 4) != 0)
		return -1;
	memcpy(&len, hdr, 4);
	len = ntohl(len);
	if (len < 1 || len > PKT_MAX)
		return conn_error(c, EK_PROTO, st, "packet length %" PRIu32 " out of 1..%d",
		    len, PKT_MAX);
	if (in_read(c, st, &cmd, 1) != 0)
		return -1;
	*cmd_r = (char)cmd;
	c->pkt_len = len - 1;
	if (c->pkt_len + 1 > c->pkt_cap) {
		size_t cap = c->pkt_cap ? c->pkt_cap : 4096;
		unsigned char *p;

		while (cap < c->pkt_len + 1)
			cap *= 2;
		if ((p = realloc(c->pkt, cap)) == NULL)
			die("out of memory");
		c->pkt = p;
		c->pkt_cap = cap;
	}
	if (c->pkt_len > 0 && in_read(c, st, c->pkt, c->pkt_len) != 0)
		return -1;
	c->pkt[c->pkt_len] = 0;
	return 0;
}

/* pkt_string - the NUL-terminated string at *off inside the packet; NULL
 * if the packet ends before its NUL */
static const char *pkt_string(const struct conn *c, size_t *off, size_t *len_r)
{
	const unsigned char *s = c->pkt + *off;
	const unsigned char *nul;

	if (*off >= c->pkt_len)
		return NULL;
	nul = memchr(s, 0, c->pkt_len - *off);
	if (nul == NULL)
		return NULL;
	*len_r = (size_t)(nul - s);
	*off += *len_r + 1;
	return (const char *)s;
}

/* ---------------------------------------------------------------- macros */

/* macro_value - our value for a macro name ("x" or "{x}"); NULL: undefined */
static const char *macro_value(const struct conn *c, const char *name, size_t len,
	char *tmp, size_t tmpcap)
{
	char key[64];

	if (len >= 2 && name[0] == '{' && name[len - 1] == '}') {
		name++;
		len -= 2;
	}
	if (len == 0 || len >= sizeof(key))
		return NULL;
	memcpy(key, name, len);
	key[len] = 0;
	if (strcmp(key, "j") == 0)
		return opt.j;
	if (strcmp(key, "daemon_name") == 0)
		return opt.daemon_name;
	if (strcmp(key, "daemon_addr") == 0)
		return "127.0.0.1";
	if (strcmp(key, "v") == 0)
		return "milter-bench";
	if (strcmp(key, "_") == 0) {
		int n = snprintf(tmp, tmpcap, "%s [%s]", opt.client_name, opt.client_addr);

		return n > 0 && (size_t)n < tmpcap ? tmp : NULL;
	}
	if (strcmp(key, "client_addr") == 0)
		return opt.client_addr;
	if (strcmp(key, "client_name") == 0)
		return opt.client_name;
	if (strcmp(key, "client_port") == 0) {
		snprintf(tmp, tmpcap, "%d", 1024 + c->id);
		return tmp;
	}
	if (strcmp(key, "i") == 0)
		return c->qid;
	if (strcmp(key, "auth_type") == 0)
		return opt.auth_user[0] ? "PLAIN" : NULL;
	if (strcmp(key, "auth_authen") == 0)
		return opt.auth_user[0] ? opt.auth_user : NULL;
	if (strcmp(key, "mail_addr") == 0)
		return c->mail_from ? c->mail_from : opt.mail_from;
	if (strcmp(key, "rcpt_addr") == 0)
		return opt.rcpt_to;
	return NULL;
}

/* send_macros - the SMFIC_MACRO packet of a stage, with the defined
 * macros of its list (the milter's own list if it sent one).  Sent even
 * when the step itself is not, as Postfix does. */
static int send_macros(struct conn *c, int stage, enum step st)
{
	char buf[4096], tmp[TEXT_MAX * 2 + 8];
	const char *list = c->symlist[stage] ? c->symlist[stage] : stage_default[stage];
	const char *p = list;
	size_t len = 0;

	buf[len++] = stage_cmd[stage];
	while (*p) {
		const char *e, *val;
		size_t nlen, vlen;

		while (*p == ' ' || *p == ',' || *p == '\t')
			p++;
		if (*p == 0)
			break;
		e = p;
		while (*e && *e != ' ' && *e != ',' && *e != '\t')
			e++;
		nlen = (size_t)(e - p);
		val = macro_value(c, p, nlen, tmp, sizeof(tmp));
		if (val != NULL) {
			vlen = strlen(val);
			if (len + nlen + vlen + 2 > sizeof(buf))
				break;	/* our values are short: cannot happen */
			memcpy(buf + len, p, nlen);
			len += nlen;
			buf[len++] = 0;
			memcpy(buf + len, val, vlen);
			len += vlen;
			buf[len++] = 0;
		}
		p = e;
	}
	if (len == 1)
		return 0;	/* nothing defined */
	return out_packet(c, st, SMFIC_MACRO, buf, len, (const void *)NULL);
}

/* ---------------------------------------------------------------- replies */

/* pending_name - remember an inserted/added/changed header name, made
 * printable and cut to NAME_LEN - 1 bytes */
static void pending_name(struct pending *pd, const char *name, size_t len)
{
	size_t kl = len < NAME_LEN - 1 ? len : NAME_LEN - 1;
	char *key;

	if (pd->nnames >= PENDING_NAMES) {
		pd->names_over++;
		return;
	}
	key = pd->names[pd->nnames++];
	for (size_t i = 0; i < kl; i++) {
		unsigned char ch = (unsigned char)name[i];

		key[i] = isprint(ch) ? (char)ch : '?';
	}
	key[kl] = 0;
}

/* stats_name - count a header name */
static void stats_name(struct stats *st, const char *key)
{
	size_t kl = strlen(key);

	for (size_t i = 0; i < st->nnames; i++) {
		if (strcasecmp(st->names[i].name, key) == 0) {
			st->names[i].n++;
			return;
		}
	}
	if (st->nnames >= NAMES_MAX) {
		st->names_other++;
		return;
	}
	memcpy(st->names[st->nnames].name, key, kl + 1);
	st->names[st->nnames++].n = 1;
}

/* capture_new - a copy of a message's header for -O */
static struct capture *capture_new(const struct msgfile *m)
{
	struct capture *cp = xmalloc(sizeof(*cp));

	for (size_t i = 0; i < m->nh && i < CAPTURE_HEADERS_MAX; i++) {
		cp->name[i] = xstrndup(m->h[i].name, m->h[i].nlen);
		cp->value[i] = xstrndup(m->h[i].value, m->h[i].vlen);
		cp->n++;
	}
	return cp;
}

/* capture_edit - apply a header modification to the captured copy.  The
 * copy keeps what follows the colon; as Postfix does, a space is put
 * before the milter's value unless SMFIP_HDR_LEADSPC was negotiated. */
static void capture_edit(struct conn *c, char cmd, uint32_t index, const char *name,
	const char *value, size_t vlen)
{
	struct capture *cp = c->cap;
	size_t pos, i, seen = 0;
	int space = !(c->pflags & SMFIP_HDR_LEADSPC);
	char *raw;

	if (cp == NULL)
		return;
	raw = xmalloc(vlen + 2);
	if (space)
		raw[0] = ' ';
	memcpy(raw + space, value, vlen);
	raw[vlen + (size_t)space] = 0;
	if (cmd == SMFIR_CHGHEADER) {
		if (index == 0)
			index = 1;
		for (i = 0; i < cp->n; i++) {
			if (strcasecmp(cp->name[i], name) == 0 && ++seen == index)
				break;
		}
		if (i < cp->n) {
			free(cp->value[i]);
			if (vlen == 0) {
				free(raw);
				free(cp->name[i]);
				memmove(&cp->name[i], &cp->name[i + 1], (cp->n - i - 1) * sizeof(char *));
				memmove(&cp->value[i], &cp->value[i + 1], (cp->n - i - 1) * sizeof(char *));
				cp->n--;
			} else {
				cp->value[i] = raw;
			}
			return;
		}
		if (vlen == 0) {
			free(raw);
			return;
		}
		cmd = SMFIR_ADDHEADER;	/* no such instance: added at the end */
	}
	if (cp->n >= CAPTURE_HEADERS_MAX) {
		cp->overflow = 1;
		free(raw);
		return;
	}
	pos = cmd == SMFIR_INSHEADER && index < cp->n ? index : cp->n;
	memmove(&cp->name[pos + 1], &cp->name[pos], (cp->n - pos) * sizeof(char *));
	memmove(&cp->value[pos + 1], &cp->value[pos], (cp->n - pos) * sizeof(char *));
	cp->name[pos] = xstrndup(name, strlen(name));
	cp->value[pos] = raw;
	cp->n++;
}

/* capture_write - write the captured message to -O FILE */
static void capture_write(struct conn *c, const struct msgfile *m)
{
	struct capture *cp = c->cap;
	FILE *fp = fopen(opt.capture_path, "w");

	if (fp == NULL) {
		fprintf(stderr, "milter-bench: %s: %s\n", opt.capture_path, strerror(errno));
		return;
	}
	if (cp->overflow)
		fprintf(stderr, "milter-bench: warning: more than %d header fields, "
		    "some modifications were not applied to %s\n", CAPTURE_HEADERS_MAX,
		    opt.capture_path);
	for (size_t i = 0; i < cp->n; i++)
		fprintf(fp, "%s:%s\n", cp->name[i], cp->value[i]);
	fputc('\n', fp);
	for (size_t i = 0; i < m->blen; i++)
		if (!(m->body[i] == '\r' && i + 1 < m->blen && m->body[i + 1] == '\n'))
			fputc(m->body[i], fp);
	if (fclose(fp) != 0)
		fprintf(stderr, "milter-bench: %s: write error\n", opt.capture_path);
}

/* capture_free - release a captured header copy */
static void capture_free(struct conn *c)
{
	if (c->cap == NULL)
		return;
	for (size_t i = 0; i < c->cap->n; i++) {
		free(c->cap->name[i]);
		free(c->cap->value[i]);
	}
	free(c->cap);
	c->cap = NULL;
}

/* verbose_packet - -v: show a reply of the first message */
static void verbose_packet(const struct conn *c, enum step st, char cmd)
{
	if (!opt.verbose || atomic_load(&verbose_shown) != 1 || c->cap == NULL)
		return;
	fprintf(stderr, "milter-bench: %s reply '%c' (%zu bytes)", step_names[st],
	    isprint((unsigned char)cmd) ? cmd : '?', c->pkt_len);
	if (c->pkt_len > 0) {
		fputs(": ", stderr);
		for (size_t i = 0; i < c->pkt_len && i < 400; i++) {
			unsigned char ch = c->pkt[i];

			fputc(ch == 0 ? '|' : isprint(ch) ? ch : '.', stderr);
		}
	}
	fputc('\n', stderr);
}

/* read_reply - read the reply to one step.  Returns -1 on error, else 0
 * with *kind_r the reply (RK_CONTINUE also for SKIP, with *skip_r set).
 * At end of message, modification requests are counted (and applied to
 * the capture) until the final reply. */
static int read_reply(struct conn *c, enum step st, enum reply_kind *kind_r, int *skip_r)
{
	long packets = 0;

	*skip_r = 0;
	for (;;) {
		char cmd;
		size_t off = 0, l1 = 0, l2 = 0;
		const char *s1, *s2;
		uint32_t index = 0;
		int mod = -1;

		if (read_packet(c, st, &cmd) != 0)
			return -1;
		if (++packets > EOM_PACKETS_MAX)
			return conn_error(c, EK_PROTO, st, "more than %d packets for one step",
			    EOM_PACKETS_MAX);
		verbose_packet(c, st, cmd);
		switch (cmd) {
		case SMFIR_CONTINUE:
		case SMFIR_ACCEPT:
		case SMFIR_REJECT:
		case SMFIR_TEMPFAIL:
		case SMFIR_DISCARD:
		case SMFIR_SHUTDOWN:
		case SMFIR_CONN_FAIL:
		case SMFIR_SKIP:
			if (c->pkt_len != 0)
				return conn_error(c, EK_PROTO, st, "reply '%c' with %zu data bytes",
				    cmd, c->pkt_len);
			if (cmd == SMFIR_SKIP) {
				if (st != ST_BODY)
					return conn_error(c, EK_PROTO, st, "SKIP outside the body");
				*skip_r = 1;
			}
			if (cmd == SMFIR_DISCARD && (st == ST_CONNECT || st == ST_HELO))
				return conn_error(c, EK_PROTO, st, "DISCARD at connection level");
			*kind_r = cmd == SMFIR_CONTINUE || cmd == SMFIR_SKIP ? RK_CONTINUE
			    : cmd == SMFIR_ACCEPT ? RK_ACCEPT
			    : cmd == SMFIR_REJECT ? RK_REJECT
			    : cmd == SMFIR_TEMPFAIL ? RK_TEMPFAIL
			    : cmd == SMFIR_DISCARD ? RK_DISCARD
			    : cmd == SMFIR_SHUTDOWN ? RK_SHUTDOWN : RK_CONNFAIL;
			return 0;
		case SMFIR_REPLYCODE:
			s1 = pkt_string(c, &off, &l1);
			if (s1 == NULL || off != c->pkt_len)
				return conn_error(c, EK_PROTO, st, "REPLYCODE not one NUL-terminated string");
			if (l1 < 5 || (s1[0] != '4' && s1[0] != '5') || !isdigit((unsigned char)s1[1])
			    || !isdigit((unsigned char)s1[2]) || (s1[3] != ' ' && s1[3] != '-'))
				return conn_error(c, EK_PROTO, st, "malformed REPLYCODE \"%.60s\"", s1);
			*kind_r = s1[0] == '4' ? RK_REPLY4 : RK_REPLY5;
			return 0;
		case SMFIR_PROGRESS:
			if (c->pkt_len != 0)
				return conn_error(c, EK_PROTO, st, "PROGRESS with data");
			mod = MK_PROGRESS;
			break;
		case SMFIR_QUARANTINE:
			s1 = pkt_string(c, &off, &l1);
			if (s1 == NULL || off != c->pkt_len)
				return conn_error(c, EK_PROTO, st, "QUARANTINE not one string");
			mod = MK_QUARANTINE;
			break;
		case SMFIR_INSHEADER:
		case SMFIR_CHGHEADER:
		case SMFIR_ADDHEADER:
			if (cmd != SMFIR_ADDHEADER) {
				if (c->pkt_len < 4)
					return conn_error(c, EK_PROTO, st, "header change without index");
				memcpy(&index, c->pkt, 4);
				index = ntohl(index);
				off = 4;
			}
			s1 = pkt_string(c, &off, &l1);
			s2 = s1 ? pkt_string(c, &off, &l2) : NULL;
			if (s2 == NULL || off != c->pkt_len)
				return conn_error(c, EK_PROTO, st,
				    "header request '%c' is not name NUL value NUL (%zu bytes)",
				    cmd, c->pkt_len);
			if (l1 == 0)
				return conn_error(c, EK_PROTO, st, "header request '%c' with an empty name", cmd);
			if (st != ST_EOM)
				return conn_error(c, EK_PROTO, st, "header request '%c' before end of message", cmd);
			mod = cmd == SMFIR_INSHEADER ? MK_INSHEADER : cmd == SMFIR_ADDHEADER
			    ? MK_ADDHEADER : l2 == 0 ? MK_DELHEADER : MK_CHGHEADER;
			pending_name(&c->pend, s1, l1);
			for (size_t g = 0; g < opt.ngreps; g++)
				if (strstr(s2, opt.greps[g]) != NULL)
					c->pend.grep[g]++;
			capture_edit(c, cmd, index, s1, s2, l2);
			break;
		case SMFIR_ADDRCPT:
		case SMFIR_DELRCPT:
			s1 = pkt_string(c, &off, &l1);
			if (s1 == NULL || off != c->pkt_len)
				return conn_error(c, EK_PROTO, st, "recipient request not one string");
			mod = cmd == SMFIR_ADDRCPT ? MK_ADDRCPT : MK_DELRCPT;
			break;
		case SMFIR_ADDRCPT_PAR:
		case SMFIR_CHGFROM:
			s1 = pkt_string(c, &off, &l1);
			if (s1 != NULL && off < c->pkt_len)
				s2 = pkt_string(c, &off, &l2);
			else
				s2 = "";
			if (s1 == NULL || s2 == NULL || off != c->pkt_len)
				return conn_error(c, EK_PROTO, st, "request '%c' is not one or two strings", cmd);
			mod = cmd == SMFIR_CHGFROM ? MK_CHGFROM : MK_ADDRCPT;
			break;
		case SMFIR_REPLBODY:
			mod = MK_REPLBODY;
			break;
		default:
			return conn_error(c, EK_PROTO, st, "unknown reply command 0x%02x",
			    (unsigned char)cmd);
		}
		if (mod != MK_PROGRESS && st != ST_EOM)
			return conn_error(c, EK_PROTO, st, "modification '%c' before end of message", cmd);
		c->pend.mods[mod]++;
	}
}

/* ---------------------------------------------------------------- session */

/* conn_open - connect and negotiate options */
static int conn_open(struct conn *c)
{
	struct timeval tv;
	uint32_t v[3];
	char cmd;
	size_t off;
	int one = 1;

	for (int i = 0; i < STAGES; i++) {
		free(c->symlist[i]);
		c->symlist[i] = NULL;
	}
	c->fd = socket(opt.addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return conn_error(c, EK_CONNECT, ST_OPTNEG, "socket: %s", strerror(errno));
	tv.tv_sec = (time_t)opt.timeout;
	tv.tv_usec = (suseconds_t)((opt.timeout - (double)tv.tv_sec) * 1e6);
	(void)setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	(void)setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (opt.addr.ss_family != AF_UNIX && opt.nodelay)
		(void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(c->fd, (struct sockaddr *)&opt.addr, opt.addrlen) != 0)
		return conn_error(c, EK_CONNECT, ST_OPTNEG, "connect %s: %s", opt.target,
		    strerror(errno));
	pthread_mutex_lock(&c->mu);
	c->st.connects++;
	pthread_mutex_unlock(&c->mu);
	c->out_len = 0;
	c->in_off = c->in_len = 0;
	c->session_msgs = 0;
	v[0] = htonl(MILTER_VERSION);
	v[1] = htonl(ACTS_OFFERED);
	v[2] = htonl(PROT_OFFERED);
	if (out_packet(c, ST_OPTNEG, SMFIC_OPTNEG, v, sizeof(v), (const void *)NULL) != 0)
		return -1;
	if (read_packet(c, ST_OPTNEG, &cmd) != 0)
		return -1;
	if (cmd != SMFIC_OPTNEG)
		return conn_error(c, EK_PROTO, ST_OPTNEG, "reply '%c' to OPTNEG",
		    isprint((unsigned char)cmd) ? cmd : '?');
	if (c->pkt_len < 12)
		return conn_error(c, EK_PROTO, ST_OPTNEG, "OPTNEG reply of %zu bytes", c->pkt_len);
	memcpy(v, c->pkt, sizeof(v));
	c->version = ntohl(v[0]);
	c->actions = ntohl(v[1]);
	c->pflags = ntohl(v[2]);
	if (c->version < 2 || c->version > MILTER_VERSION)
		return conn_error(c, EK_PROTO, ST_OPTNEG, "protocol version %" PRIu32, c->version);
	if ((c->actions & ~(uint32_t)ACTS_OFFERED) != 0)
		return conn_error(c, EK_PROTO, ST_OPTNEG, "actions 0x%" PRIx32 " beyond offered 0x%x",
		    c->actions, ACTS_OFFERED);
	if ((c->pflags & ~(uint32_t)PROT_OFFERED) != 0)
		return conn_error(c, EK_PROTO, ST_OPTNEG, "protocol flags 0x%" PRIx32 " beyond offered 0x%x",
		    c->pflags, PROT_OFFERED);
	/* SMFIR_SETSYMLIST data: (uint32 stage, macro names NUL)* */
	off = 12;
	while (off < c->pkt_len) {
		uint32_t stage;
		size_t len;
		const char *s;

		if (c->pkt_len - off < 5)
			return conn_error(c, EK_PROTO, ST_OPTNEG, "truncated macro list");
		memcpy(&stage, c->pkt + off, 4);
		stage = ntohl(stage);
		off += 4;
		s = pkt_string(c, &off, &len);
		if (s == NULL)
			return conn_error(c, EK_PROTO, ST_OPTNEG, "macro list without NUL");
		if (stage >= STAGES)
			return conn_error(c, EK_PROTO, ST_OPTNEG, "macro list for stage %" PRIu32, stage);
		if (len > SYMLIST_MAX)
			return conn_error(c, EK_PROTO, ST_OPTNEG, "macro list of %zu bytes", len);
		free(c->symlist[stage]);
		c->symlist[stage] = xstrndup(s, len);
	}
	if (opt.verbose && c->id == 0) {
		fprintf(stderr, "milter-bench: negotiated version=%" PRIu32 " actions=0x%" PRIx32
		    " protocol=0x%" PRIx32 "\n", c->version, c->actions, c->pflags);
		for (int i = 0; i < STAGES; i++)
			if (c->symlist[i])
				fprintf(stderr, "milter-bench: macros for '%c': %s\n", stage_cmd[i],
				    c->symlist[i]);
	}
	return 0;
}

/* step - send the macros of a stage and one command, then read its reply
 * unless the milter declined the step (no_flag) or its reply (nr_flag) */
static int step(struct conn *c, enum step st, int stage, char cmd, uint32_t no_flag,
	uint32_t nr_flag, const void *data, size_t len, enum reply_kind *kind_r, int *skip_r)
{
	*kind_r = RK_CONTINUE;
	*skip_r = 0;
	if (stage >= 0 && send_macros(c, stage, st) != 0)
		return -1;
	if (c->pflags & no_flag)
		return 0;
	if (out_packet(c, st, cmd, data, len, (const void *)NULL) != 0)
		return -1;
	if (c->pflags & nr_flag)
		return 0;
	return read_reply(c, st, kind_r, skip_r);
}

/* session_start - connect if needed, then CONNECT and HELO */
static int session_start(struct conn *c, enum reply_kind *kind_r, enum step *st_r)
{
	char buf[TEXT_MAX * 2 + 8];
	size_t nlen = strlen(opt.client_name), alen = strlen(opt.client_addr), len = 0;
	uint16_t port = htons((uint16_t)(1024 + c->id));
	int skip;

	if (c->fd < 0 && conn_open(c) != 0)
		return -1;
	memcpy(buf, opt.client_name, nlen + 1);
	len = nlen + 1;
	buf[len++] = (char)opt.client_family;
	memcpy(buf + len, &port, 2);
	len += 2;
	memcpy(buf + len, opt.client_addr, alen + 1);
	len += alen + 1;
	*st_r = ST_CONNECT;
	if (step(c, ST_CONNECT, SM_CONNECT, SMFIC_CONNECT, SMFIP_NOCONNECT, SMFIP_NR_CONN,
	    buf, len, kind_r, &skip) != 0)
		return -1;
	if (*kind_r != RK_CONTINUE)
		return 0;
	*st_r = ST_HELO;
	if (step(c, ST_HELO, SM_HELO, SMFIC_HELO, SMFIP_NOHELO, SMFIP_NR_HELO,
	    opt.helo, strlen(opt.helo) + 1, kind_r, &skip) != 0)
		return -1;
	c->in_session = 1;
	return 0;
}

/* session_end - QUIT and close.  Best effort: the milter may already
 * have closed (after SHUTDOWN, say), which is no error of the run. */
static void session_end(struct conn *c)
{
	static const unsigned char quit[5] = { 0, 0, 0, 1, SMFIC_QUIT };

	if (c->fd < 0)
		return;
	if (c->out_len + sizeof(quit) <= OUT_CAP) {
		memcpy(c->out + c->out_len, quit, sizeof(quit));
		c->out_len += sizeof(quit);
	}
	(void)send(c->fd, c->out, c->out_len, MSG_NOSIGNAL | MSG_DONTWAIT);
	close(c->fd);
	c->fd = -1;
	c->out_len = 0;
	c->in_off = c->in_len = 0;
	c->in_session = 0;
}

/* envelope_arg - "<addr>" NUL into buf; length or 0 if too long */
static size_t envelope_arg(char *buf, size_t cap, const char *addr)
{
	int n = snprintf(buf, cap, "<%s>", addr);

	if (n < 0 || (size_t)n + 1 > cap)
		return 0;
	return (size_t)n + 1;
}

/* message_run - one message through the milter; the final reply and the
 * step it came at in *kind_r and *st_r.  -1 on error. */
static int message_run(struct conn *c, const struct msgfile *m, enum reply_kind *kind_r,
	enum step *st_r)
{
	char arg[TEXT_MAX + 4];
	size_t alen;
	int skip;

	*kind_r = RK_CONTINUE;
	if (!c->in_session) {
		if (session_start(c, kind_r, st_r) != 0)
			return -1;
		if (*kind_r != RK_CONTINUE) {
			/* connection-level decision: nothing more on this session */
			pthread_mutex_lock(&c->mu);
			c->st.sessions_cut++;
			pthread_mutex_unlock(&c->mu);
			session_end(c);
			return 0;
		}
	}
	*st_r = ST_MAIL;
	c->mail_from = m->mail_from;
	alen = envelope_arg(arg, sizeof(arg), m->mail_from);
	if (step(c, ST_MAIL, SM_MAIL, SMFIC_MAIL, SMFIP_NOMAIL, SMFIP_NR_MAIL, arg, alen,
	    kind_r, &skip) != 0)
		return -1;
	if (*kind_r != RK_CONTINUE)
		goto done;
	*st_r = ST_RCPT;
	alen = envelope_arg(arg, sizeof(arg), opt.rcpt_to);
	if (step(c, ST_RCPT, SM_RCPT, SMFIC_RCPT, SMFIP_NORCPT, SMFIP_NR_RCPT, arg, alen,
	    kind_r, &skip) != 0)
		return -1;
	if (*kind_r != RK_CONTINUE)
		goto done;
	*st_r = ST_DATA;
	if (c->version >= 4) {
		if (step(c, ST_DATA, SM_DATA, SMFIC_DATA, SMFIP_NODATA, SMFIP_NR_DATA, NULL, 0,
		    kind_r, &skip) != 0)
			return -1;
		if (*kind_r != RK_CONTINUE)
			goto done;
	}
	*st_r = ST_HEADER;
	/* -P: Postfix's smtpd flushes what it buffered (the envelope steps the
	 * milter does not answer) when it hands the socket to cleanup, which
	 * then writes the header: two writes without a reply in between */
	if (opt.postfix_writes && c->out_len > 0 && out_flush(c, ST_HEADER) != 0)
		return -1;
	if (!(c->pflags & SMFIP_NOHDRS)) {
		for (size_t i = 0; i < m->nh; i++) {
			const struct header *h = &m->h[i];
			const char *val = h->value;
			size_t vlen = h->vlen;

			/* the MTA eats one space after the colon unless asked not to */
			if (!(c->pflags & SMFIP_HDR_LEADSPC) && vlen > 0 && val[0] == ' ') {
				val++;
				vlen--;
			}
			/* name and value are NUL-terminated copies: send the NULs too */
			if (out_packet(c, ST_HEADER, SMFIC_HEADER, h->name, h->nlen + 1, val,
			    vlen + 1, (const void *)NULL) != 0)
				return -1;
			if (c->pflags & SMFIP_NR_HDR)
				continue;
			if (read_reply(c, ST_HEADER, kind_r, &skip) != 0)
				return -1;
			if (*kind_r != RK_CONTINUE)
				goto done;
		}
	}
	*st_r = ST_EOH;
	if (step(c, ST_EOH, SM_EOH, SMFIC_EOH, SMFIP_NOEOH, SMFIP_NR_EOH, NULL, 0, kind_r,
	    &skip) != 0)
		return -1;
	if (*kind_r != RK_CONTINUE)
		goto done;
	*st_r = ST_BODY;
	if (!(c->pflags & SMFIP_NOBODY)) {
		for (size_t off = 0; off < m->blen;) {
			size_t n = m->blen - off > CHUNK_MAX ? CHUNK_MAX : m->blen - off;

			if (step(c, ST_BODY, -1, SMFIC_BODY, 0, SMFIP_NR_BODY, m->body + off, n,
			    kind_r, &skip) != 0)
				return -1;
			if (*kind_r != RK_CONTINUE)
				goto done;
			if (skip)
				break;
			off += n;
		}
	}
	*st_r = ST_EOM;
	/* CONTINUE is a final reply here: Postfix and Sendmail take it as accept */
	if (step(c, ST_EOM, SM_EOM, SMFIC_BODYEOB, 0, 0, NULL, 0, kind_r, &skip) != 0)
		return -1;
done:
	if (*kind_r == RK_SHUTDOWN || *kind_r == RK_CONNFAIL) {
		session_end(c);
		return 0;
	}
	if (!opt.no_abort && out_packet(c, *st_r, SMFIC_ABORT, (const void *)NULL) != 0)
		return -1;
	return 0;
}

/* ---------------------------------------------------------------- threads */

/* sleep_ms - nanosleep a few milliseconds */
static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !stop_flag)
		;
}

/* message_record - count one finished message in the window it ended in */
static void message_record(struct conn *c, enum reply_kind kind, enum step st, int64_t t0)
{
	int64_t t1 = now_ns();

	pthread_mutex_lock(&c->mu);
	if (atomic_load(&phase) == 1) {
		c->st.msgs++;
		c->st.reply[kind][st]++;
		hist_add(&c->st.h, (uint64_t)((t1 - t0) / 1000));
		for (int k = 0; k < MK_COUNT; k++)
			c->st.mods[k] += c->pend.mods[k];
		for (size_t g = 0; g < GREPS_MAX; g++)
			c->st.grep[g] += c->pend.grep[g];
		for (size_t i = 0; i < c->pend.nnames; i++)
			stats_name(&c->st, c->pend.names[i]);
		c->st.names_other += c->pend.names_over;
		atomic_fetch_add(&measured_total, 1);
	} else if (atomic_load(&phase) == 0) {
		c->st.warm_msgs++;
	}
	pthread_mutex_unlock(&c->mu);
}

/* worker_main - one connection: messages until the run ends */
static void *worker_main(void *arg)
{
	struct conn *c = arg;

	while (!stop_flag && !atomic_load(&failed) && atomic_load(&phase) < 2) {
		enum reply_kind kind;
		enum step st = ST_OPTNEG;
		const struct msgfile *m;
		uint64_t k;
		int64_t t0;

		if (opt.max_msgs && atomic_load(&phase) == 1
		    && atomic_fetch_add(&tickets, 1) >= opt.max_msgs)
			break;
		k = atomic_fetch_add(&msg_counter, 1);
		m = &opt.files[k % opt.nfiles];
		c->msgno = k;
		snprintf(c->qid, sizeof(c->qid), "%010" PRIX64, k + 1);
		if ((opt.capture_path || opt.verbose) && atomic_exchange(&capture_taken, 1) == 0) {
			c->cap = capture_new(m);
			atomic_store(&verbose_shown, 1);
		}
		memset(&c->pend, 0, sizeof(c->pend));
		t0 = now_ns();
		if (message_run(c, m, &kind, &st) != 0) {
			capture_free(c);
			if (!opt.keep_going)
				break;
			sleep_ms(RETRY_MS);
			continue;
		}
		message_record(c, kind, st, t0);
		if (c->cap) {
			if (opt.verbose)
				fprintf(stderr, "milter-bench: first message (%s): %s at %s\n",
				    m->path, reply_names[kind], step_names[st]);
			if (opt.capture_path)
				capture_write(c, m);
			capture_free(c);
			atomic_store(&verbose_shown, 2);
		}
		if (c->in_session && opt.per_conn && ++c->session_msgs >= opt.per_conn)
			session_end(c);
	}
	session_end(c);
	c->qid[0] = 0;
	atomic_fetch_add(&threads_done, 1);
	return NULL;
}

/* ---------------------------------------------------------------- report */

/* stats_merge - add a connection's counters into the total */
static void stats_merge(struct stats *dst, const struct stats *src)
{
	hist_merge(&dst->h, &src->h);
	dst->msgs += src->msgs;
	dst->warm_msgs += src->warm_msgs;
	for (int r = 0; r < RK_COUNT; r++)
		for (int s = 0; s < ST_COUNT; s++)
			dst->reply[r][s] += src->reply[r][s];
	for (int k = 0; k < MK_COUNT; k++)
		dst->mods[k] += src->mods[k];
	for (size_t g = 0; g < GREPS_MAX; g++)
		dst->grep[g] += src->grep[g];
	for (int e = 0; e < EK_COUNT; e++)
		dst->err[e] += src->err[e];
	dst->connects += src->connects;
	dst->sessions_cut += src->sessions_cut;
	dst->names_other += src->names_other;
	for (size_t i = 0; i < src->nnames; i++) {
		size_t j;

		for (j = 0; j < dst->nnames; j++)
			if (strcasecmp(dst->names[j].name, src->names[i].name) == 0)
				break;
		if (j < dst->nnames)
			dst->names[j].n += src->names[i].n;
		else if (dst->nnames < NAMES_MAX)
			dst->names[dst->nnames++] = src->names[i];
		else
			dst->names_other += src->names[i].n;
	}
}

/* report - print the summary */
static void report(const struct stats *t, double secs, double milter_cpu, double self_cpu_s,
	const struct conn *c0)
{
	uint64_t errors = 0;

	for (int e = 0; e < EK_COUNT; e++)
		errors += t->err[e];
	printf("messages=%" PRIu64 " errors=%" PRIu64 " duration=%.3f msgs_per_s=%.1f"
	    " p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f\n",
	    t->msgs, errors, secs, secs > 0 ? (double)t->msgs / secs : 0.0,
	    (double)hist_percentile(&t->h, 0.50) / 1000.0,
	    (double)hist_percentile(&t->h, 0.90) / 1000.0,
	    (double)hist_percentile(&t->h, 0.99) / 1000.0,
	    (double)t->h.max_us / 1000.0);
	for (int r = 0; r < RK_COUNT; r++)
		for (int s = 0; s < ST_COUNT; s++)
			if (t->reply[r][s])
				printf("reply %s@%s: %" PRIu64 "\n", reply_names[r], step_names[s],
				    t->reply[r][s]);
	printf("modify");
	for (int k = 0; k < MK_COUNT; k++)
		printf(" %s=%" PRIu64, mod_names[k], t->mods[k]);
	printf("\n");
	for (size_t i = 0; i < t->nnames; i++)
		printf("header %s: %" PRIu64 "\n", t->names[i].name, t->names[i].n);
	if (t->names_other)
		printf("header (other): %" PRIu64 "\n", t->names_other);
	for (size_t g = 0; g < opt.ngreps; g++)
		printf("grep %s: %" PRIu64 "\n", opt.greps[g], t->grep[g]);
	printf("cpu");
	if (opt.npids > 0) {
		if (milter_cpu >= 0 && t->msgs > 0)
			printf(" milter_ms_per_msg=%.3f", milter_cpu * 1000.0 / (double)t->msgs);
		else
			printf(" milter_ms_per_msg=-");
		if (milter_cpu >= 0 && secs > 0)
			printf(" milter_util=%.2f", milter_cpu / secs);
		else
			printf(" milter_util=-");
	}
	if (t->msgs > 0)
		printf(" bench_ms_per_msg=%.3f", self_cpu_s * 1000.0 / (double)t->msgs);
	printf("\n");
	printf("detail connects=%" PRIu64 " warmup_messages=%" PRIu64 " sessions_cut=%" PRIu64,
	    t->connects, t->warm_msgs, t->sessions_cut);
	for (int e = 0; e < EK_COUNT; e++)
		printf(" err_%s=%" PRIu64, err_names[e], t->err[e]);
	printf(" version=%" PRIu32 " actions=0x%" PRIx32 " protocol=0x%" PRIx32 " nodelay=%s\n",
	    c0->version, c0->actions, c0->pflags,
	    opt.addr.ss_family == AF_UNIX ? "n/a" : opt.nodelay ? "on" : "off");
	if (first_error[0])
		printf("error: %s\n", first_error);
}

/* raise_nofile - room for every connection */
static void raise_nofile(void)
{
	struct rlimit rl;
	rlim_t need = (rlim_t)opt.conns + 64;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= need)
		return;
	rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need ? need : rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < need)
		fprintf(stderr, "milter-bench: warning: open files limited to %llu\n",
		    (unsigned long long)rl.rlim_cur);
}

/* release - free the connections and message files once every thread
 * has been joined (a thread still stuck on a dead milter keeps its own) */
static void release(struct conn *conns)
{
	for (long i = 0; i < opt.conns; i++) {
		struct conn *c = &conns[i];

		capture_free(c);
		for (int k = 0; k < STAGES; k++)
			free(c->symlist[k]);
		free(c->out);
		free(c->in);
		free(c->pkt);
		pthread_mutex_destroy(&c->mu);
	}
	free(conns);
	for (size_t i = 0; i < opt.nfiles; i++) {
		for (size_t j = 0; j < opt.files[i].nh; j++) {
			free(opt.files[i].h[j].name);
			free(opt.files[i].h[j].value);
		}
		free(opt.files[i].h);
		free(opt.files[i].body);
	}
}

/* wait_phase - sleep until deadline (ns) or until the run must end */
static void wait_phase(int64_t deadline, int until_done)
{
	while (!stop_flag && !atomic_load(&failed)) {
		int64_t now = now_ns();

		if (atomic_load(&threads_done) >= opt.conns)
			return;
		if (!until_done && now >= deadline)
			return;
		if (until_done && opt.max_msgs && atomic_load(&measured_total) >= opt.max_msgs
		    && now >= deadline)
			return;
		sleep_ms(until_done ? 2 : 5);
	}
}

/* main - parse options, run the connections, report */
int main(int argc, char **argv)
{
	struct conn *conns;
	struct stats *total;
	struct sigaction sa;
	pthread_attr_t attr;
	double cpu0 = -1, cpu1 = -1, self0 = 0, self1, secs;
	int64_t t0, t1, give_up;

	parse_options(argc, argv);
	raise_nofile();
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	conns = xmalloc(sizeof(*conns) * (size_t)opt.conns);
	for (long i = 0; i < opt.conns; i++) {
		conns[i].id = (int)i;
		conns[i].fd = -1;
		conns[i].out = xmalloc(OUT_CAP);
		conns[i].in = xmalloc(IN_CAP);
		pthread_mutex_init(&conns[i].mu, NULL);
	}
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	t0 = now_ns();
	if (opt.warmup <= 0) {
		cpu0 = cpu_sample();
		self0 = self_cpu();
		atomic_store(&phase, 1);
	}
	for (long i = 0; i < opt.conns; i++)
		if (pthread_create(&conns[i].tid, &attr, worker_main, &conns[i]) != 0)
			die("pthread_create failed");
	if (opt.warmup > 0) {
		wait_phase(t0 + (int64_t)(opt.warmup * NS_PER_S), 0);
		cpu0 = cpu_sample();
		self0 = self_cpu();
		t0 = now_ns();
		atomic_store(&phase, 1);
	}
	if (opt.max_msgs)
		wait_phase(t0, 1);
	else
		wait_phase(t0 + (int64_t)(opt.duration * NS_PER_S), 0);
	atomic_store(&phase, 2);
	t1 = now_ns();
	cpu1 = cpu_sample();
	self1 = self_cpu();
	secs = (double)(t1 - t0) / NS_PER_S;

	/* let the connections finish their message and QUIT */
	give_up = now_ns() + (int64_t)((opt.timeout < STOP_WAIT_S ? opt.timeout : STOP_WAIT_S)
	    * NS_PER_S) + NS_PER_S;
	while (atomic_load(&threads_done) < opt.conns && now_ns() < give_up)
		sleep_ms(5);
	if (atomic_load(&threads_done) == opt.conns)
		for (long i = 0; i < opt.conns; i++)
			pthread_join(conns[i].tid, NULL);

	total = xmalloc(sizeof(*total));
	for (long i = 0; i < opt.conns; i++) {
		pthread_mutex_lock(&conns[i].mu);
		stats_merge(total, &conns[i].st);
		pthread_mutex_unlock(&conns[i].mu);
	}
	if (opt.npids > 0 && (cpu0 < 0 || cpu1 < 0))
		fprintf(stderr, "milter-bench: warning: cannot read /proc/PID/stat of -p\n");
	report(total, secs, cpu0 >= 0 && cpu1 >= 0 ? cpu1 - cpu0 : -1, self1 - self0, &conns[0]);
	fflush(stdout);
	free(total);
	pthread_attr_destroy(&attr);
	if (atomic_load(&threads_done) == opt.conns)
		release(conns);
	return atomic_load(&failed) ? 1 : 0;
}
