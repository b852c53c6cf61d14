/*
 * policy-bench.c - load generator for the Postfix SMTPD policy delegation
 * protocol (SMTPD_POLICY_README).
 *
 * A request is a block of "name=value\n" lines ended by an empty line; the
 * server answers "action=...\n\n".  We keep -c connections busy, one
 * outstanding request per connection, from -t epoll threads, and print:
 *
 *   requests=N errors=N duration=S rps=X p50_ms=X p90_ms=X p99_ms=X max_ms=X
 *   action DUNNO: N            (one line per distinct first word of action=)
 *
 * Modes: persistent connections (default), -C reconnect (one connection per
 * request, like a spawn(8) service without connection reuse) and -I (hold
 * -c idle connections for -d seconds, for memory measurements).  The
 * warm-up (-w) is excluded from the figures; with -W it also lasts until
 * every connection has answered once, for servers that start a process
 * per connection.  -A N counts the first N words of each action instead
 * of one ("PREPEND Received-SPF: Pass").
 *
 * Functions: main and static helpers only; this is a standalone program
 * (cc -O2 -Wall -Wextra -o policy-bench policy-bench.c -lpthread).
 *
 * Input trust: the server under test is not trusted.  Responses go into a
 * fixed buffer of RESP_MAX bytes per connection; a longer response, a
 * response without action=, bytes after the end of a response, a close or
 * a timeout (-T) count as an error and the connection is reopened after
 * RETRY_MS.  The template file (-i) is trusted a little more, but it too
 * is bounded (TEMPLATE_FILE_MAX, TEMPLATES_MAX, REQ_MAX).
 *
 * Latency is measured per request with CLOCK_MONOTONIC from the first
 * write (or from connect() in reconnect mode) to the end of the response,
 * and kept in a log-linear histogram of microseconds (HIST_BUCKETS buckets
 * per thread, relative error below 1/64), so memory does not grow with the
 * number of requests.
 *
 * Errors: bad options or an unreadable template file print a message and
 * exit 2; run-time errors are counted and reported, never fatal.
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
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "hist.h"

#define REQ_MAX 8192		/* one request, bytes */
#define RESP_MAX 4096		/* one response, bytes */
#define ACTIONS_MAX 64		/* distinct action prefixes counted */
#define ACTION_LEN 64		/* bytes kept of an action prefix */
#define DOMAINS_MAX 256		/* -D entries */
#define DOMAIN_LEN 254		/* one -D entry, with NUL */
#define TEMPLATES_MAX 100000	/* request blocks in -i FILE */
#define TEMPLATE_FILE_MAX (16 * 1024 * 1024)
#define CONNS_MAX 1000000	/* -c */
#define THREADS_MAX 256		/* -t */
#define EVENTS_MAX 256		/* epoll_wait batch */
#define TICK_MS 20		/* timer scan period */
#define RETRY_MS 50		/* wait before reopening after an error */
#define TARGET_LEN 512		/* -s argument */
#define ADDR_TEXT_LEN 64	/* an IP address as text */
#define NAME_LEN 300		/* a generated name or address */
#define PRIME_MAX_S 60		/* -W: longest wait for every connection */
#define ACTION_WORDS_MAX 8	/* -A */

#define NS_PER_MS 1000000LL
#define NS_PER_S 1000000000LL

enum conn_state {
	CS_RETRY,		/* closed, reopen at retry_at */
	CS_CONNECTING,		/* non-blocking connect() in progress */
	CS_SENDING,		/* request partly written */
	CS_RECEIVING,		/* waiting for the end of the response */
	CS_HELD,		/* idle mode: connected, sending nothing */
	CS_DONE			/* no more work (-n reached) */
};

enum err_kind {
	ERR_CONNECT,		/* connect() failed */
	ERR_TIMEOUT,		/* connect or request took longer than -T */
	ERR_CLOSED,		/* peer closed before the end of a response */
	ERR_IO,			/* read or write error (reset, ...) */
	ERR_PROTO,		/* response without action=, or trailing bytes */
	ERR_TOOLONG,		/* response longer than RESP_MAX */
	ERR_KINDS
};

static const char *const err_names[ERR_KINDS] = {
	"connect", "timeout", "closed", "io", "protocol", "toolong"
};

struct action_count {
	char name[ACTION_LEN];
	uint64_t n;
};

struct stats {
	struct hist h;
	uint64_t requests;	/* completed in the measured window */
	uint64_t errors;	/* errors in the measured window */
	uint64_t err[ERR_KINDS];
	uint64_t warm_requests, warm_errors;
	uint64_t connects;	/* successful connects, whole run */
	uint64_t connect_again;	/* EAGAIN from connect (unix backlog full) */
	struct action_count act[ACTIONS_MAX];
	size_t nact;
	uint64_t act_other;	/* actions beyond ACTIONS_MAX distinct */
	uint64_t held;		/* idle mode: connections now held */
	uint64_t held_peak;
	uint64_t peer_closed;	/* idle mode: closed by the server */
	uint64_t unexpected;	/* idle mode: bytes received */
};

struct worker;

struct conn {
	int fd;
	enum conn_state state;
	uint64_t id;		/* global connection number */
	uint64_t seq;		/* requests started on this slot */
	int64_t t_start;	/* ns, start of the current request */
	int64_t deadline;	/* ns, connect or request timeout */
	int64_t retry_at;	/* ns, CS_RETRY */
	int measured;		/* current request counts */
	int rd_pending;		/* EPOLLIN seen while still sending */
	int primed;		/* had a response (-W) */
	size_t out_len, out_off, in_len;
	char *out;		/* REQ_MAX bytes, NULL in idle mode */
	char *in;		/* RESP_MAX bytes, NULL in idle mode */
	struct worker *w;
};

struct worker {
	pthread_t tid;
	int index;
	int epfd;
	struct conn *conns;
	size_t nconns;
	size_t active;		/* slots not CS_DONE */
	struct stats st;
};

struct tmpl {
	char *text;		/* attribute lines, no instance=, no blank */
	size_t len;
};

struct opts {
	char target[TARGET_LEN];
	struct sockaddr_storage addr;
	socklen_t addrlen;
	long concurrency;
	long threads;
	double duration;
	double warmup;
	double timeout;
	uint64_t max_requests;	/* 0: no limit */
	int reconnect;
	int idle;
	int prime;		/* -W: warm-up lasts until all slots answered */
	int action_words;	/* -A: words of action= counted */
	int verbose;
	/* built-in requests */
	int cidr_family;
	unsigned char cidr_base[16];
	uint64_t cidr_size;	/* addresses used, at most 2^32 */
	char domains[DOMAINS_MAX][DOMAIN_LEN];
	size_t ndomains;
	/* -i FILE */
	struct tmpl *tmpls;
	size_t ntmpls;
};

static struct opts opt;
static int64_t run_start_ns;
static _Atomic int64_t measure_ns;	/* requests started from here count */
static _Atomic int64_t end_ns;		/* stop here */
static atomic_int measure_fixed;	/* measure_ns is final (-W) */
static atomic_long primed_total;	/* -W: slots that had a response */
static atomic_uint_fast64_t tickets;
static volatile sig_atomic_t stop_flag;
static atomic_int verbose_shown;
static atomic_long held_total;		/* idle mode: connections held now */

/* die - print a message and exit 2 (option and setup errors only) */
static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	fputs("policy-bench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

/* xmalloc - malloc or die */
static void *xmalloc(size_t n)
{
	void *p = calloc(1, n ? n : 1);

	if (p == NULL)
		die("out of memory (%zu bytes)", n);
	return p;
}

/* now_ns - CLOCK_MONOTONIC in nanoseconds */
static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

/* on_signal - SIGINT/SIGTERM: stop and report what we have */
static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

/* mix64 - splitmix64 finaliser, spreads request numbers over choices */
static uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
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

/* parse_target - inet:HOST:PORT, inet:[V6]:PORT or unix:PATH */
static void parse_target(const char *s)
{
	int n = snprintf(opt.target, sizeof(opt.target), "%s", s);

	if (n < 0 || (size_t)n >= sizeof(opt.target))
		die("-s: target too long");
	if (strncmp(s, "unix:", 5) == 0) {
		struct sockaddr_un *su = (struct sockaddr_un *)&opt.addr;
		const char *path = s + 5;

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

/* parse_cidr - -a NET/LEN: the client addresses to cycle through */
static void parse_cidr(const char *s)
{
	char buf[ADDR_TEXT_LEN];
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	long len, bits;

	if (alen == 0 || alen >= sizeof(buf))
		die("-a: bad CIDR \"%.60s\"", s);
	memcpy(buf, s, alen);
	buf[alen] = 0;
	memset(opt.cidr_base, 0, sizeof(opt.cidr_base));
	if (inet_pton(AF_INET, buf, opt.cidr_base) == 1) {
		opt.cidr_family = AF_INET;
		bits = 32;
	} else if (inet_pton(AF_INET6, buf, opt.cidr_base) == 1) {
		opt.cidr_family = AF_INET6;
		bits = 128;
	} else {
		die("-a: bad address \"%.60s\"", buf);
	}
	len = slash ? parse_long(slash + 1, 0, bits, 'a') : bits;
	/* clear host bits */
	for (long i = 0; i < bits; i++)
		if (i >= len)
			opt.cidr_base[i / 8] &= (unsigned char)~(0x80u >> (i % 8));
	opt.cidr_size = bits - len >= 32 ? (1ULL << 32) : (1ULL << (bits - len));
}

/* parse_domains - -D dom1,dom2,...: sender domains */
static void parse_domains(const char *s)
{
	const char *p = s;

	opt.ndomains = 0;
	while (*p) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);

		if (len > 0) {
			if (len >= DOMAIN_LEN)
				die("-D: domain too long");
			if (opt.ndomains >= DOMAINS_MAX)
				die("-D: more than %d domains", DOMAINS_MAX);
			memcpy(opt.domains[opt.ndomains], p, len);
			opt.domains[opt.ndomains][len] = 0;
			opt.ndomains++;
		}
		p += len;
		if (*p == ',')
			p++;
	}
	if (opt.ndomains == 0)
		die("-D: no domain given");
}

/* tmpl_add - keep one request block from -i FILE, minus instance= */
static void tmpl_add(const char *block, size_t len, const char *file, long lineno)
{
	struct tmpl *t;
	char *dst;
	const char *p = block, *end = block + len;

	if (opt.ntmpls >= TEMPLATES_MAX)
		die("%s: more than %d requests", file, TEMPLATES_MAX);
	if (len + 64 > REQ_MAX)
		die("%s:%ld: request longer than %d bytes", file, lineno, REQ_MAX - 64);
	t = &opt.tmpls[opt.ntmpls];
	t->text = dst = xmalloc(len + 1);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t ll = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);

		if (!(ll >= 9 && strncmp(p, "instance=", 9) == 0)) {
			memcpy(dst, p, ll);
			dst += ll;
		}
		p += ll;
	}
	*dst = 0;
	t->len = (size_t)(dst - t->text);
	opt.ntmpls++;
}

/* tmpl_load - -i FILE: blocks of name=value lines separated by empty
 * lines, '#' comments; instance= is replaced by a unique value */
static void tmpl_load(const char *file)
{
	FILE *fp = fopen(file, "r");
	char *data, *blk, *p;
	size_t n, blen = 0;
	long lineno = 0, blk_line = 0;

	if (fp == NULL)
		die("%s: %s", file, strerror(errno));
	data = xmalloc(TEMPLATE_FILE_MAX + 1);
	n = fread(data, 1, TEMPLATE_FILE_MAX + 1, fp);
	if (ferror(fp))
		die("%s: read error", file);
	fclose(fp);
	if (n > TEMPLATE_FILE_MAX)
		die("%s: larger than %d bytes", file, TEMPLATE_FILE_MAX);
	data[n] = 0;
	opt.tmpls = xmalloc(sizeof(*opt.tmpls) * TEMPLATES_MAX);
	blk = xmalloc(n + 2);
	p = data;
	while (p < data + n) {
		char *nl = memchr(p, '\n', (size_t)(data + n - p));
		size_t raw = nl ? (size_t)(nl - p) + 1 : (size_t)(data + n - p);
		size_t ll = nl ? raw - 1 : raw;

		lineno++;
		if (ll > 0 && p[ll - 1] == '\r')
			ll--;
		if (ll == 0) {
			if (blen > 0)
				tmpl_add(blk, blen, file, blk_line);
			blen = 0;
		} else if (p[0] != '#') {
			if (memchr(p, '=', ll) == NULL || p[0] == '=')
				die("%s:%ld: expected name=value", file, lineno);
			if (memchr(p, 0, ll) != NULL)
				die("%s:%ld: NUL byte", file, lineno);
			if (blen == 0)
				blk_line = lineno;
			memcpy(blk + blen, p, ll);
			blen += ll;
			blk[blen++] = '\n';
		}
		p += raw;
	}
	if (blen > 0)
		tmpl_add(blk, blen, file, blk_line);
	free(blk);
	free(data);
	if (opt.ntmpls == 0)
		die("%s: no request found", file);
}

/* usage - print options and exit 2 */
static void usage(void)
{
	fputs("usage: policy-bench -s inet:HOST:PORT|unix:PATH [options]\n"
	    "  -c N        connections (default 8)\n"
	    "  -t N        epoll threads (default 2)\n"
	    "  -d SECONDS  measured duration (default 10)\n"
	    "  -w SECONDS  warm-up before measuring (default 1)\n"
	    "  -W          warm-up also lasts until every connection had a response\n"
	    "              (slow-starting servers, e.g. one process per connection)\n"
	    "  -n N        stop after N measured requests\n"
	    "  -T SECONDS  connect and request timeout (default 30)\n"
	    "  -C MODE     persistent (default) or reconnect (one connection per request)\n"
	    "  -I          idle mode: hold -c connections open for -d seconds\n"
	    "  -i FILE     request blocks to cycle through (instance= is made unique)\n"
	    "  -a CIDR     client_address range (default 192.0.2.0/24)\n"
	    "  -D DOMAINS  comma-separated sender domains (default example.com)\n"
	    "  -A N        count the first N words of each action (default 1)\n"
	    "  -v          print the first response to stderr\n", stderr);
	exit(2);
}

/* parse_options - fill opt from argv */
static void parse_options(int argc, char **argv)
{
	int c, have_target = 0;

	opt.concurrency = 8;
	opt.threads = 2;
	opt.duration = 10;
	opt.warmup = 1;
	opt.timeout = 30;
	opt.action_words = 1;
	parse_cidr("192.0.2.0/24");
	parse_domains("example.com");
	while ((c = getopt(argc, argv, "s:c:t:d:w:Wn:T:C:Ii:a:D:A:vh")) != -1) {
		switch (c) {
		case 's':
			parse_target(optarg);
			have_target = 1;
			break;
		case 'c':
			opt.concurrency = parse_long(optarg, 1, CONNS_MAX, 'c');
			break;
		case 't':
			opt.threads = parse_long(optarg, 1, THREADS_MAX, 't');
			break;
		case 'd':
			opt.duration = parse_seconds(optarg, 1e6, 'd');
			break;
		case 'w':
			opt.warmup = parse_seconds(optarg, 1e6, 'w');
			break;
		case 'n':
			opt.max_requests = (uint64_t)parse_long(optarg, 1, LONG_MAX, 'n');
			break;
		case 'T':
			opt.timeout = parse_seconds(optarg, 1e6, 'T');
			if (opt.timeout <= 0)
				die("-T: must be positive");
			break;
		case 'C':
			if (strcmp(optarg, "reconnect") == 0)
				opt.reconnect = 1;
			else if (strcmp(optarg, "persistent") == 0)
				opt.reconnect = 0;
			else
				die("-C: expected reconnect or persistent");
			break;
		case 'I':
			opt.idle = 1;
			break;
		case 'W':
			opt.prime = 1;
			break;
		case 'A':
			opt.action_words = (int)parse_long(optarg, 1, ACTION_WORDS_MAX, 'A');
			break;
		case 'i':
			tmpl_load(optarg);
			break;
		case 'a':
			parse_cidr(optarg);
			break;
		case 'D':
			parse_domains(optarg);
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
	if (opt.threads > opt.concurrency)
		opt.threads = opt.concurrency;
	if (opt.idle) {
		opt.warmup = 0;
		opt.prime = 0;
	}
}

/* raise_nofile - make room for all connections plus some spare */
static void raise_nofile(void)
{
	struct rlimit rl;
	rlim_t need = (rlim_t)opt.concurrency + (rlim_t)opt.threads + 64;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= need)
		return;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need) {
		struct rlimit hard = { need, need };

		if (setrlimit(RLIMIT_NOFILE, &hard) == 0)
			return;
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
			fprintf(stderr, "policy-bench: warning: open files limited to %llu, "
			    "%ld connections will not all open\n",
			    (unsigned long long)rl.rlim_max, opt.concurrency);
		return;
	}
	rl.rlim_cur = need;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
		fprintf(stderr, "policy-bench: warning: setrlimit: %s\n", strerror(errno));
}

/* ---------------------------------------------------------------- requests */

/* client_ip - text form of the k-th address of the -a range */
static void client_ip(uint64_t k, char *out, size_t outlen)
{
	unsigned char a[16];
	/* skip the network and broadcast addresses of ranges that have them */
	uint64_t off = opt.cidr_size >= 4 ? 1 + k % (opt.cidr_size - 2) : k % opt.cidr_size;
	int len = opt.cidr_family == AF_INET ? 4 : 16;

	memcpy(a, opt.cidr_base, sizeof(a));
	/* add off to the low 32 bits, big-endian, with carry */
	for (int i = len - 1; i >= 0 && off; i--) {
		uint64_t sum = a[i] + (off & 0xff);

		a[i] = (unsigned char)sum;
		off = (off >> 8) + (sum >> 8);
	}
	if (inet_ntop(opt.cidr_family, a, out, (socklen_t)outlen) == NULL)
		snprintf(out, outlen, "192.0.2.1");
}

/* req_builtin - the k-th built-in request into out; length or -1 */
static int req_builtin(uint64_t k, char *out, size_t cap)
{
	char ip[ADDR_TEXT_LEN], helo[NAME_LEN];
	uint64_t h = mix64(k);
	const char *dom = opt.domains[h % opt.ndomains];
	const char *helo_dom = opt.domains[(h >> 16) % opt.ndomains];
	int n;

	client_ip(k, ip, sizeof(ip));
	n = snprintf(helo, sizeof(helo), "mx%u.%s", (unsigned)((h >> 32) % 64), helo_dom);
	if (n < 0 || (size_t)n >= sizeof(helo))
		return -1;
	n = snprintf(out, cap,
	    "request=smtpd_access_policy\n"
	    "protocol_state=RCPT\n"
	    "protocol_name=ESMTP\n"
	    "helo_name=%s\n"
	    "queue_id=%09" PRIX64 "\n"
	    "sender=user%u@%s\n"
	    "recipient=rcpt%u@destination.invalid\n"
	    "recipient_count=0\n"
	    "client_address=%s\n"
	    "client_name=%s\n"
	    "reverse_client_name=%s\n"
	    "instance=%" PRIx64 "\n"
	    "sasl_method=\n"
	    "sasl_username=\n"
	    "sasl_sender=\n"
	    "size=%u\n"
	    "ccert_subject=\n"
	    "ccert_issuer=\n"
	    "ccert_fingerprint=\n"
	    "ccert_pubkey_fingerprint=\n"
	    "encryption_protocol=\n"
	    "encryption_cipher=\n"
	    "encryption_keysize=0\n"
	    "etrn_domain=\n"
	    "stress=\n"
	    "client_port=%u\n"
	    "policy_context=\n"
	    "server_address=127.0.0.1\n"
	    "server_port=25\n"
	    "compatibility_level=3.6\n"
	    "mail_version=3.7.11\n"
	    "\n",
	    helo, (uint64_t)((h >> 8) & 0xfffffffffULL), (unsigned)((h >> 24) % 1000), dom,
	    (unsigned)((h >> 40) % 100), ip, helo, helo, k,
	    (unsigned)(1000 + (h >> 20) % 200000), (unsigned)(1024 + (h >> 48) % 60000));
	if (n < 0 || (size_t)n >= cap)
		return -1;
	return n;
}

/* req_template - the k-th request from -i FILE; length or -1 */
static int req_template(uint64_t k, char *out, size_t cap)
{
	const struct tmpl *t = &opt.tmpls[k % opt.ntmpls];
	int n;

	if (t->len >= cap)
		return -1;
	memcpy(out, t->text, t->len);
	n = snprintf(out + t->len, cap - t->len, "instance=%" PRIx64 "\n\n", k);
	if (n < 0 || (size_t)n >= cap - t->len)
		return -1;
	return (int)t->len + n;
}

/* ---------------------------------------------------------------- connections */

/* measure_fix - -W: start the measured window now (or at the end of -w) */
static void measure_fix(int64_t now)
{
	int expected = 0;
	int64_t m = run_start_ns + (int64_t)(opt.warmup * NS_PER_S);

	if (!atomic_compare_exchange_strong(&measure_fixed, &expected, 1))
		return;
	if (now > m)
		m = now;
	atomic_store(&measure_ns, m);
	atomic_store(&end_ns, m + (int64_t)(opt.duration * NS_PER_S));
	fprintf(stderr, "policy-bench: warm-up ends after %.3f s (%ld of %ld connections answered)\n",
	    (double)(m - run_start_ns) / NS_PER_S, (long)atomic_load(&primed_total),
	    opt.concurrency);
}

static void conn_open(struct conn *c);

/* stats_error - count one error at time now */
static void stats_error(struct stats *st, enum err_kind kind, int64_t now, int measured)
{
	if (measured || now >= measure_ns) {
		st->errors++;
		st->err[kind]++;
	} else {
		st->warm_errors++;
	}
}

/* stats_action - count the first -A words of an action= value; Postfix
 * reads actions case-insensitively, so "prepend" and "PREPEND" count
 * together */
static void stats_action(struct stats *st, const char *val, size_t len)
{
	char word[ACTION_LEN];
	size_t wl = 0;
	int words = 1;

	while (wl < len && wl < ACTION_LEN - 1) {
		unsigned char ch = (unsigned char)val[wl];

		if ((ch == ' ' || ch == '\t') && words++ >= opt.action_words)
			break;
		word[wl++] = isprint(ch) ? (char)toupper(ch) : '?';
	}
	word[wl] = 0;
	for (size_t i = 0; i < st->nact; i++) {
		if (strcmp(st->act[i].name, word) == 0) {
			st->act[i].n++;
			return;
		}
	}
	if (st->nact >= ACTIONS_MAX) {
		st->act_other++;
		return;
	}
	memcpy(st->act[st->nact].name, word, wl + 1);
	st->act[st->nact].n = 1;
	st->nact++;
}

/* conn_close - close the socket, if any */
static void conn_close(struct conn *c)
{
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
	if (c->state == CS_HELD && c->w->st.held > 0) {
		c->w->st.held--;
		atomic_fetch_sub(&held_total, 1);
	}
}

/* conn_done - this slot has no more work */
static void conn_done(struct conn *c)
{
	conn_close(c);
	c->state = CS_DONE;
	c->w->active--;
}

/* conn_fail - count an error, close, reopen later */
static void conn_fail(struct conn *c, enum err_kind kind)
{
	int64_t now = now_ns();

	stats_error(&c->w->st, kind, now,
	    c->measured && (c->state == CS_SENDING || c->state == CS_RECEIVING));
	conn_close(c);
	c->state = CS_RETRY;
	c->retry_at = now + RETRY_MS * NS_PER_MS;
}

/* take_ticket - may a request start now?  (-n) */
static int take_ticket(int64_t now)
{
	if (opt.max_requests == 0 || now < measure_ns)
		return 1;
	return atomic_fetch_add(&tickets, 1) < opt.max_requests;
}

/* conn_send - write what is left of the request */
static void conn_send(struct conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
		    MSG_NOSIGNAL);

		if (n > 0) {
			c->out_off += (size_t)n;
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			return;
		} else {
			conn_fail(c, ERR_IO);
			return;
		}
	}
	c->state = CS_RECEIVING;
}

/* conn_request - build and start sending the next request */
static void conn_request(struct conn *c, int64_t now)
{
	uint64_t k = c->seq * (uint64_t)opt.concurrency + c->id;
	int n;

	if (!opt.reconnect) {
		if (!take_ticket(now)) {
			conn_done(c);
			return;
		}
		c->t_start = now;
		c->measured = now >= measure_ns;
		c->deadline = now + (int64_t)(opt.timeout * NS_PER_S);
	}
	c->seq++;
	n = opt.ntmpls ? req_template(k, c->out, REQ_MAX) : req_builtin(k, c->out, REQ_MAX);
	if (n < 0) {
		/* cannot happen with the limits checked at load time */
		fprintf(stderr, "policy-bench: request too long\n");
		conn_done(c);
		return;
	}
	c->out_len = (size_t)n;
	c->out_off = 0;
	c->in_len = 0;
	c->rd_pending = 0;
	c->state = CS_SENDING;
	conn_send(c);
}

/* conn_complete - a full response is in c->in[0..len) */
static void conn_complete(struct conn *c, size_t len)
{
	struct stats *st = &c->w->st;
	int64_t now = now_ns();
	const char *p = c->in, *end = c->in + len;
	const char *val = NULL;
	size_t vlen = 0;

	/* find action= among the attribute lines */
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));

		if (nl == NULL || nl == p)
			break;
		if ((size_t)(nl - p) >= 7 && memcmp(p, "action=", 7) == 0) {
			val = p + 7;
			vlen = (size_t)(nl - val);
			break;
		}
		p = nl + 1;
	}
	if (val == NULL) {
		conn_fail(c, ERR_PROTO);
		return;
	}
	if (!c->primed) {
		c->primed = 1;
		if (atomic_fetch_add(&primed_total, 1) + 1 == opt.concurrency && opt.prime)
			measure_fix(now);
	}
	if (opt.verbose && atomic_exchange(&verbose_shown, 1) == 0)
		fprintf(stderr, "policy-bench: first response: %.*s\n",
		    (int)(vlen > 300 ? 300 : vlen), val);
	if (c->measured) {
		st->requests++;
		hist_add(&st->h, (uint64_t)((now - c->t_start) / 1000));
		stats_action(st, val, vlen);
	} else {
		st->warm_requests++;
	}
	if (opt.reconnect) {
		conn_close(c);
		c->state = CS_RETRY;
		conn_open(c);
	} else {
		conn_request(c, now);
	}
}

/* resp_scan - look for the empty line ending a response: 1 complete,
 * 0 need more, -1 malformed (stray empty line or trailing bytes) */
static int resp_scan(struct conn *c, size_t old_len, size_t *len_r)
{
	size_t i = old_len > 0 ? old_len - 1 : 0;

	if (c->in_len > 0 && c->in[0] == '\n')
		return -1;
	for (; i + 1 < c->in_len; i++) {
		if (c->in[i] == '\n' && c->in[i + 1] == '\n') {
			*len_r = i + 2;
			return *len_r == c->in_len ? 1 : -1;
		}
	}
	return 0;
}

/* conn_recv - read response bytes; hup: the peer closed or failed, so read
 * until EOF rather than trusting a short read to mean "empty" */
static void conn_recv(struct conn *c, int hup)
{
	for (;;) {
		size_t room = RESP_MAX - c->in_len, len = 0;
		size_t old = c->in_len;
		ssize_t n;
		int r;

		if (room == 0) {
			conn_fail(c, ERR_TOOLONG);
			return;
		}
		n = recv(c->fd, c->in + c->in_len, room, 0);
		if (n > 0) {
			c->in_len += (size_t)n;
			r = resp_scan(c, old, &len);
			if (r < 0) {
				conn_fail(c, ERR_PROTO);
				return;
			}
			if (r > 0) {
				conn_complete(c, len);
				return;
			}
			if ((size_t)n < room && !hup)
				return;	/* short read: queue drained */
			continue;
		}
		if (n == 0) {
			conn_fail(c, ERR_CLOSED);
			return;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return;
		conn_fail(c, ERR_IO);
		return;
	}
}

/* conn_connected - connect() finished: start work */
static void conn_connected(struct conn *c, int64_t now)
{
	struct stats *st = &c->w->st;

	st->connects++;
	if (opt.idle) {
		c->state = CS_HELD;
		if (++st->held > st->held_peak)
			st->held_peak = st->held;
		if (atomic_fetch_add(&held_total, 1) + 1 == opt.concurrency)
			fprintf(stderr, "policy-bench: all %ld connections held after %.3f s\n",
			    opt.concurrency, (double)(now - run_start_ns) / NS_PER_S);
		return;
	}
	conn_request(c, now);
}

/* conn_open - new socket, non-blocking connect */
static void conn_open(struct conn *c)
{
	struct epoll_event ev;
	int64_t now = now_ns();
	int one = 1;

	if (opt.reconnect) {
		if (!take_ticket(now)) {
			conn_done(c);
			return;
		}
		c->t_start = now;
		c->measured = now >= measure_ns;
	}
	c->deadline = now + (int64_t)(opt.timeout * NS_PER_S);
	c->fd = socket(opt.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		c->state = CS_CONNECTING;
		conn_fail(c, ERR_CONNECT);
		return;
	}
	if (opt.addr.ss_family != AF_UNIX)
		(void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
	ev.data.ptr = c;
	if (epoll_ctl(c->w->epfd, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
		c->state = CS_CONNECTING;
		conn_fail(c, ERR_CONNECT);
		return;
	}
	c->state = CS_CONNECTING;
	if (connect(c->fd, (struct sockaddr *)&opt.addr, opt.addrlen) == 0) {
		conn_connected(c, now);
		return;
	}
	if (errno == EINPROGRESS || errno == EINTR)
		return;
	if (errno == EAGAIN) {
		/* unix socket backlog full: not an error, try again soon */
		c->w->st.connect_again++;
		conn_close(c);
		c->state = CS_RETRY;
		c->retry_at = now + RETRY_MS * NS_PER_MS;
		return;
	}
	conn_fail(c, ERR_CONNECT);
}

/* conn_event - epoll reported something on this connection */
static void conn_event(struct conn *c, uint32_t events)
{
	int hup = (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0;
	int64_t now;

	switch (c->state) {
	case CS_CONNECTING:
		if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) {
			int err = 0;
			socklen_t len = sizeof(err);

			if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0
			    || (events & (EPOLLERR | EPOLLHUP))) {
				conn_fail(c, ERR_CONNECT);
				return;
			}
			now = now_ns();
			conn_connected(c, now);
			/* data or a close may already be waiting */
			if (c->state == CS_RECEIVING && (events & EPOLLIN))
				conn_recv(c, hup);
		}
		return;
	case CS_SENDING:
		if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
			c->rd_pending = 1;
		if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
			conn_send(c);
		if (c->state == CS_RECEIVING && c->rd_pending)
			conn_recv(c, 1);
		return;
	case CS_RECEIVING:
		if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
			conn_recv(c, hup);
		return;
	case CS_HELD:
		if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
			char junk[256];
			ssize_t n;

			while ((n = recv(c->fd, junk, sizeof(junk), 0)) > 0)
				c->w->st.unexpected += (uint64_t)n;
			if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK
			    && errno != EINTR)) {
				c->w->st.peer_closed++;
				conn_close(c);
				c->state = CS_RETRY;
				c->retry_at = now_ns() + RETRY_MS * NS_PER_MS;
			}
		}
		return;
	case CS_RETRY:
	case CS_DONE:
		return;
	}
}

/* worker_tick - reopen closed slots and enforce timeouts */
static void worker_tick(struct worker *w, int64_t now)
{
	for (size_t i = 0; i < w->nconns; i++) {
		struct conn *c = &w->conns[i];

		switch (c->state) {
		case CS_RETRY:
			if (now >= c->retry_at)
				conn_open(c);
			break;
		case CS_CONNECTING:
		case CS_SENDING:
		case CS_RECEIVING:
			if (now >= c->deadline)
				conn_fail(c, ERR_TIMEOUT);
			break;
		case CS_HELD:
		case CS_DONE:
			break;
		}
	}
}

/* worker_main - one epoll loop over a share of the connections */
static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct epoll_event evs[EVENTS_MAX];
	int64_t last_tick = 0;

	for (size_t i = 0; i < w->nconns; i++)
		conn_open(&w->conns[i]);
	while (!stop_flag && w->active > 0) {
		int64_t now = now_ns();
		int n, wait_ms;

		if (now >= end_ns)
			break;
		if (!atomic_load(&measure_fixed)
		    && now >= run_start_ns + (int64_t)((opt.warmup + PRIME_MAX_S) * NS_PER_S))
			measure_fix(now);
		if (now - last_tick >= TICK_MS * NS_PER_MS) {
			worker_tick(w, now);
			last_tick = now;
		}
		wait_ms = (int)((end_ns - now) / NS_PER_MS);
		if (wait_ms > TICK_MS)
			wait_ms = TICK_MS;
		n = epoll_wait(w->epfd, evs, EVENTS_MAX, wait_ms);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "policy-bench: epoll_wait: %s\n", strerror(errno));
			break;
		}
		for (int i = 0; i < n; i++)
			conn_event(evs[i].data.ptr, evs[i].events);
	}
	for (size_t i = 0; i < w->nconns; i++)
		if (w->conns[i].fd >= 0)
			close(w->conns[i].fd);
	return NULL;
}

/* ---------------------------------------------------------------- report */

/* action_cmp - sort action counts, most frequent first */
static int action_cmp(const void *a, const void *b)
{
	const struct action_count *x = a, *y = b;

	if (x->n != y->n)
		return x->n < y->n ? 1 : -1;
	return strcmp(x->name, y->name);
}

/* stats_merge - add a worker's counters into the total */
static void stats_merge(struct stats *dst, const struct stats *src)
{
	hist_merge(&dst->h, &src->h);
	dst->requests += src->requests;
	dst->errors += src->errors;
	for (int k = 0; k < ERR_KINDS; k++)
		dst->err[k] += src->err[k];
	dst->warm_requests += src->warm_requests;
	dst->warm_errors += src->warm_errors;
	dst->connects += src->connects;
	dst->connect_again += src->connect_again;
	dst->held += src->held;
	dst->held_peak += src->held_peak;
	dst->peer_closed += src->peer_closed;
	dst->unexpected += src->unexpected;
	dst->act_other += src->act_other;
	for (size_t i = 0; i < src->nact; i++) {
		size_t j;

		for (j = 0; j < dst->nact; j++)
			if (strcmp(dst->act[j].name, src->act[i].name) == 0)
				break;
		if (j < dst->nact)
			dst->act[j].n += src->act[i].n;
		else if (dst->nact < ACTIONS_MAX)
			dst->act[dst->nact++] = src->act[i];
		else
			dst->act_other += src->act[i].n;
	}
}

/* report - print the summary lines */
static void report(const struct stats *t, double secs)
{
	struct action_count sorted[ACTIONS_MAX];

	if (opt.idle) {
		printf("idle connections=%ld held=%" PRIu64 " peak=%" PRIu64
		    " connects=%" PRIu64 " errors=%" PRIu64 " peer_closed=%" PRIu64
		    " unexpected_bytes=%" PRIu64 " duration=%.3f\n",
		    opt.concurrency, t->held, t->held_peak, t->connects, t->errors,
		    t->peer_closed, t->unexpected, secs);
		return;
	}
	printf("requests=%" PRIu64 " errors=%" PRIu64 " duration=%.3f rps=%.1f"
	    " p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f\n",
	    t->requests, t->errors, secs, secs > 0 ? (double)t->requests / secs : 0.0,
	    (double)hist_percentile(&t->h, 0.50) / 1000.0,
	    (double)hist_percentile(&t->h, 0.90) / 1000.0,
	    (double)hist_percentile(&t->h, 0.99) / 1000.0,
	    (double)t->h.max_us / 1000.0);
	memcpy(sorted, t->act, t->nact * sizeof(sorted[0]));
	qsort(sorted, t->nact, sizeof(sorted[0]), action_cmp);
	for (size_t i = 0; i < t->nact; i++)
		printf("action %s: %" PRIu64 "\n", sorted[i].name, sorted[i].n);
	if (t->act_other)
		printf("action (other): %" PRIu64 "\n", t->act_other);
	printf("detail connects=%" PRIu64 " connect_eagain=%" PRIu64
	    " warmup_requests=%" PRIu64 " warmup_errors=%" PRIu64,
	    t->connects, t->connect_again, t->warm_requests, t->warm_errors);
	for (int k = 0; k < ERR_KINDS; k++)
		printf(" err_%s=%" PRIu64, err_names[k], t->err[k]);
	printf("\n");
}

/* workers_free - release workers, connections and templates */
static void workers_free(struct worker *ws)
{
	for (long i = 0; i < opt.threads; i++) {
		for (size_t j = 0; j < ws[i].nconns; j++) {
			free(ws[i].conns[j].out);
			free(ws[i].conns[j].in);
		}
		free(ws[i].conns);
		close(ws[i].epfd);
	}
	free(ws);
	for (size_t i = 0; i < opt.ntmpls; i++)
		free(opt.tmpls[i].text);
	free(opt.tmpls);
}

/* main - parse options, run the workers, report */
int main(int argc, char **argv)
{
	struct worker *ws;
	struct stats *total;
	struct sigaction sa;
	int64_t stop_ns;
	double secs;

	parse_options(argc, argv);
	raise_nofile();
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	ws = xmalloc(sizeof(*ws) * (size_t)opt.threads);
	for (long i = 0; i < opt.threads; i++) {
		ws[i].index = (int)i;
		ws[i].epfd = epoll_create1(EPOLL_CLOEXEC);
		if (ws[i].epfd < 0)
			die("epoll_create1: %s", strerror(errno));
		ws[i].nconns = (size_t)(opt.concurrency / opt.threads
		    + (i < opt.concurrency % opt.threads ? 1 : 0));
		ws[i].conns = xmalloc(sizeof(struct conn) * ws[i].nconns);
		ws[i].active = ws[i].nconns;
		for (size_t j = 0; j < ws[i].nconns; j++) {
			struct conn *c = &ws[i].conns[j];

			c->fd = -1;
			c->state = CS_RETRY;
			c->id = (uint64_t)j * (uint64_t)opt.threads + (uint64_t)i;
			c->w = &ws[i];
			if (!opt.idle) {
				c->out = xmalloc(REQ_MAX);
				c->in = xmalloc(RESP_MAX);
			}
		}
	}
	run_start_ns = now_ns();
	if (opt.prime) {
		/* fixed by measure_fix when every slot has answered */
		measure_ns = INT64_MAX;
		end_ns = run_start_ns
		    + (int64_t)((opt.warmup + PRIME_MAX_S + opt.duration) * NS_PER_S) + NS_PER_S;
	} else {
		measure_ns = run_start_ns + (int64_t)(opt.warmup * NS_PER_S);
		end_ns = measure_ns + (int64_t)(opt.duration * NS_PER_S);
		measure_fixed = 1;
	}
	for (long i = 0; i < opt.threads; i++)
		if (pthread_create(&ws[i].tid, NULL, worker_main, &ws[i]) != 0)
			die("pthread_create failed");
	for (long i = 0; i < opt.threads; i++)
		pthread_join(ws[i].tid, NULL);
	stop_ns = now_ns();
	if (stop_ns > end_ns)
		stop_ns = end_ns;
	secs = stop_ns > measure_ns ? (double)(stop_ns - measure_ns) / NS_PER_S : 0.0;

	total = xmalloc(sizeof(*total));
	for (long i = 0; i < opt.threads; i++)
		stats_merge(total, &ws[i].st);
	report(total, secs);
	fflush(stdout);
	free(total);
	workers_free(ws);
	return 0;
}
