/*
 * mailsend.c - an SMTP client and a sendmail pipe for the reports we
 *              send; see mailsend.h.
 *
 * SMTP session: greeting, EHLO (HELO if the server refuses EHLO),
 * MAIL FROM, one RCPT TO per recipient, DATA, the message dot-stuffed,
 * ".", QUIT.  Replies are read into a fixed line buffer; a reply is done
 * at the first "NNN " line (or a bare "NNN"), every line must carry the
 * same code, and the whole reply must arrive within the timeout (a
 * server trickling one byte a second does not keep us forever).
 * Output is written with poll(2) + send(MSG_NOSIGNAL) under the same
 * timeout per chunk.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "mailsend.h"
#include "xalloc.h"

#define OUT_CHUNK 8192		/* bytes written per poll round */
#define SENDMAIL_OUT_MAX 512	/* sendmail's output kept for why[] */

/* ------------------------------------------------------------- helpers */

/* now_ms - a monotonic clock in milliseconds */
static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* left_ms - milliseconds until deadline, at least 0 */
static int left_ms(long long deadline)
{
	long long d = deadline - now_ms();

	return d <= 0 ? 0 : d > 86400000 ? 86400000 : (int)d;
}

/* setwhy - printf into why[] */
static void setwhy(char *why, size_t whylen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void setwhy(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	if (why == NULL || whylen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
}

/* alnum - ASCII letter or digit (no locale) */
static int alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

/* mailsend_addr_valid - see mailsend.h */
int mailsend_addr_valid(const char *addr)
{
	static const char atext[] = "!#$%&'*+-/=?^_`{|}~";
	const char *at = strrchr(addr, '@'), *p;
	size_t n = strlen(addr);

	if (at == NULL || at == addr || at[1] == '\0' ||
	    n >= MAILSEND_ADDR_MAX)
		return 0;
	for (p = addr; p < at; p++) {
		unsigned char c = (unsigned char)*p;

		if (c == '.') {
			if (p == addr || p[1] == '.' || p + 1 == at)
				return 0;
		} else if (!alnum(c) && (c == '\0' ||
		    strchr(atext, c) == NULL)) {
			return 0;
		}
	}
	for (p = at + 1; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (!alnum(c) && c != '-' && c != '_' && c != '.')
			return 0;
		if (c == '.' && (p == at + 1 || p[1] == '.'))
			return 0;
	}
	return 1;
}

/* host_valid - a HELO name or an smtp: host: letters, digits, - _ . :
 * (IPv6 inside brackets), non-empty */
static int host_valid(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (!alnum(c) && strchr("-_.:[]", c) == NULL)
			return 0;
	}
	return 1;
}

/* mailsend_init - see mailsend.h */
int mailsend_init(struct mailsend *m, const char *spec, const char *helo,
    unsigned timeout_ms, const char **err_r)
{
	memset(m, 0, sizeof(*m));
	m->timeout_ms = timeout_ms ? timeout_ms : 1;
	if (helo == NULL || *helo == '\0')
		helo = "localhost";
	if (strlen(helo) >= sizeof(m->helo) || !host_valid(helo)) {
		*err_r = "HELO name: not a host name (letters, digits, - . _)";
		return -1;
	}
	memcpy(m->helo, helo, strlen(helo) + 1);
	if (strncmp(spec, "sendmail:", 9) == 0) {
		const char *path = spec + 9;

		m->kind = MAILSEND_SENDMAIL;
		if (path[0] != '/') {
			*err_r = "sendmail: needs an absolute path "
			    "(sendmail:/usr/sbin/sendmail)";
			return -1;
		}
		if (strlen(path) >= sizeof(m->path)) {
			*err_r = "sendmail: path too long";
			return -1;
		}
		memcpy(m->path, path, strlen(path) + 1);
		return 0;
	}
	if (strncmp(spec, "smtp:", 5) == 0) {
		const char *h = spec + 5, *hend, *port = NULL;
		size_t hl;

		m->kind = MAILSEND_SMTP;
		if (*h == '[') {
			hend = strchr(h, ']');
			if (hend == NULL) {
				*err_r = "smtp: missing ']' after an IPv6 "
				    "address";
				return -1;
			}
			h++;
			if (hend[1] == ':')
				port = hend + 2;
			else if (hend[1] != '\0') {
				*err_r = "smtp: expected :PORT after ']'";
				return -1;
			}
		} else {
			hend = strchr(h, ':');
			if (hend != NULL)
				port = hend + 1;
			else
				hend = h + strlen(h);
		}
		hl = (size_t)(hend - h);
		if (hl == 0 || hl >= sizeof(m->host)) {
			*err_r = "smtp: empty or too long host";
			return -1;
		}
		memcpy(m->host, h, hl);
		m->host[hl] = '\0';
		if (!host_valid(m->host)) {
			*err_r = "smtp: host is not a host name or address";
			return -1;
		}
		if (port == NULL || *port == '\0')
			port = "25";
		{
			char *end;
			long p = strtol(port, &end, 10);

			if (*end != '\0' || p < 1 || p > 65535 ||
			    port[0] < '0' || port[0] > '9') {
				*err_r = "smtp: port must be 1..65535";
				return -1;
			}
			snprintf(m->port, sizeof(m->port), "%ld", p);
		}
		return 0;
	}
	*err_r = "transport must be smtp:HOST[:PORT] or sendmail:/PATH";
	return -1;
}

/* mailsend_date - t as an RFC 5322 date-time in UTC (no locale), into
 * out[MAILSEND_DATE_MAX] */
const char *mailsend_date(time_t t, char *out)
{
	static const char days[] = "SunMonTueWedThuFriSat";
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	struct tm tm;

	gmtime_r(&t, &tm);
	snprintf(out, MAILSEND_DATE_MAX, "%.3s, %d %.3s %d %02d:%02d:%02d +0000",
	    days + 3 * tm.tm_wday, tm.tm_mday, months + 3 * tm.tm_mon,
	    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
	return out;
}

/* mailsend_describe - see mailsend.h */
void mailsend_describe(const struct mailsend *m, char *out, size_t outlen)
{
	if (m->kind == MAILSEND_SENDMAIL)
		snprintf(out, outlen, "sendmail:%s", m->path);
	else if (strchr(m->host, ':'))
		snprintf(out, outlen, "smtp:[%s]:%s", m->host, m->port);
	else
		snprintf(out, outlen, "smtp:%s:%s", m->host, m->port);
}

/* ---------------------------------------------------------------- SMTP */

struct smtp {
	int fd;
	unsigned timeout_ms;
	char in[MAILSEND_LINE_MAX * 2];	/* bytes read, not yet used */
	size_t inlen;
	int code;			/* of the last reply */
	char text[MAILSEND_LINE_MAX];	/* its first line, sanitized */
};

/* smtp_connect - a connected socket to host:port within the timeout, or
 * -1 with why */
static int smtp_connect(const struct mailsend *m, char *why, size_t whylen)
{
	struct addrinfo hints = { 0 }, *res, *ai;
	int rc, fd = -1, saved = 0;

	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_ADDRCONFIG;
	rc = getaddrinfo(m->host, m->port, &hints, &res);
	if (rc != 0) {
		setwhy(why, whylen, "smtp:%s: %s", m->host, gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		long long deadline = now_ms() + m->timeout_ms;
		struct pollfd pfd;
		socklen_t sl = sizeof(saved);

		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			saved = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		saved = errno;
		if (errno == EINPROGRESS) {
			pfd.fd = fd;
			pfd.events = POLLOUT;
			do {
				rc = poll(&pfd, 1, left_ms(deadline));
			} while (rc < 0 && errno == EINTR);
			if (rc == 0)
				saved = ETIMEDOUT;
			else if (rc > 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR,
			    &saved, &sl) == 0 && saved == 0)
				break;
		}
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		setwhy(why, whylen, "connect to %s port %s: %s", m->host,
		    m->port, strerror(saved ? saved : ECONNREFUSED));
	return fd;
}

/* smtp_write - all of p within the timeout per chunk; -1 on error */
static int smtp_write(struct smtp *s, const char *p, size_t n)
{
	while (n > 0) {
		struct pollfd pfd = { s->fd, POLLOUT, 0 };
		ssize_t w;
		int rc;

		do {
			rc = poll(&pfd, 1, (int)s->timeout_ms);
		} while (rc < 0 && errno == EINTR);
		if (rc <= 0) {
			errno = rc == 0 ? ETIMEDOUT : errno;
			return -1;
		}
		w = send(s->fd, p, n > OUT_CHUNK ? OUT_CHUNK : n,
		    MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* smtp_line - one line (without CRLF) into line[MAILSEND_LINE_MAX];
 * 0, or -1 (EOF, timeout, overlong line: errno says which) */
static int smtp_line(struct smtp *s, char *line, long long deadline)
{
	for (;;) {
		char *nl = memchr(s->in, '\n', s->inlen);
		struct pollfd pfd = { s->fd, POLLIN, 0 };
		ssize_t r;
		int rc;

		if (nl != NULL) {
			size_t n = (size_t)(nl - s->in);

			if (n + 1 > MAILSEND_LINE_MAX) {
				errno = EMSGSIZE;
				return -1;
			}
			memcpy(line, s->in, n);
			if (n > 0 && line[n - 1] == '\r')
				n--;
			line[n] = '\0';
			s->inlen -= (size_t)(nl + 1 - s->in);
			memmove(s->in, nl + 1, s->inlen);
			return 0;
		}
		if (s->inlen >= MAILSEND_LINE_MAX) {
			errno = EMSGSIZE;
			return -1;
		}
		do {
			rc = poll(&pfd, 1, left_ms(deadline));
		} while (rc < 0 && errno == EINTR);
		if (rc <= 0) {
			errno = rc == 0 ? ETIMEDOUT : errno;
			return -1;
		}
		r = recv(s->fd, s->in + s->inlen, sizeof(s->in) - s->inlen, 0);
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r <= 0) {
			errno = r == 0 ? ECONNRESET : errno;
			return -1;
		}
		s->inlen += (size_t)r;
	}
}

/* smtp_reply - read one (multi-line) reply: its code in s->code and
 * first line in s->text; -1 on a broken or late reply (why set) */
static int smtp_reply(struct smtp *s, const char *after, char *why,
    size_t whylen)
{
	long long deadline = now_ms() + s->timeout_ms;
	char line[MAILSEND_LINE_MAX];

	s->code = 0;
	for (int i = 0; i < MAILSEND_REPLY_LINES; i++) {
		int code;

		if (smtp_line(s, line, deadline) < 0) {
			setwhy(why, whylen, "%s: %s", after, errno ==
			    EMSGSIZE ? "reply line too long" : errno ==
			    ETIMEDOUT ? "timeout waiting for the reply" :
			    strerror(errno));
			return -1;
		}
		if (line[0] < '2' || line[0] > '5' || line[1] < '0' ||
		    line[1] > '9' || line[2] < '0' || line[2] > '9' ||
		    (line[3] != '\0' && line[3] != ' ' && line[3] != '-')) {
			char san[LOG_SAN_SIZE];

			setwhy(why, whylen, "%s: malformed reply \"%s\"", after,
			    log_sanitize(san, line, strlen(line)));
			return -1;
		}
		code = (line[0] - '0') * 100 + (line[1] - '0') * 10 +
		    line[2] - '0';
		if (i == 0) {
			s->code = code;
			log_sanitize(s->text, line, strlen(line));
		} else if (code != s->code) {
			setwhy(why, whylen, "%s: reply lines with different "
			    "codes", after);
			return -1;
		}
		if (line[3] != '-')
			return 0;
	}
	setwhy(why, whylen, "%s: more than %d reply lines", after,
	    MAILSEND_REPLY_LINES);
	return -1;
}

/* smtp_cmd - send a command line (CRLF added) and read the reply; 0 or
 * -1 (why set).  The caller looks at s->code. */
static int smtp_cmd(struct smtp *s, const char *what, char *why,
    size_t whylen, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static int smtp_cmd(struct smtp *s, const char *what, char *why,
    size_t whylen, const char *fmt, ...)
{
	char cmd[MAILSEND_ADDR_MAX + 64];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(cmd, sizeof(cmd) - 2, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(cmd) - 2)
		log_panic("mailsend: command too long");
	memcpy(cmd + n, "\r\n", 3);
	if (smtp_write(s, cmd, (size_t)n + 2) < 0) {
		setwhy(why, whylen, "%s: %s", what, strerror(errno));
		return -1;
	}
	return smtp_reply(s, what, why, whylen);
}

/* smtp_data - the message as DATA: CRLF line ends, leading dots doubled,
 * then the end marker; written through a bounded staging buffer */
static int smtp_data(struct smtp *s, const char *msg, size_t len)
{
	char out[OUT_CHUNK + 8];
	size_t o = 0;
	int bol = 1;

	for (size_t i = 0; i < len; i++) {
		char c = msg[i];

		if (bol && c == '.')
			out[o++] = '.';
		if (c == '\n' && (i == 0 || msg[i - 1] != '\r'))
			out[o++] = '\r';
		if (c == '\r' && (i + 1 == len || msg[i + 1] != '\n')) {
			out[o++] = '\r';	/* bare CR: make it CRLF */
			c = '\n';
		}
		out[o++] = c;
		bol = c == '\n';
		if (o >= OUT_CHUNK) {
			if (smtp_write(s, out, o) < 0)
				return -1;
			o = 0;
		}
	}
	if (!bol) {
		out[o++] = '\r';
		out[o++] = '\n';
	}
	memcpy(out + o, ".\r\n", 3);
	return smtp_write(s, out, o + 3);
}

/* outcome_of - a reply code as 0 (2xx/3xx expected), 1 (5xx), -1 */
static int outcome_of(int code)
{
	return code >= 500 ? 1 : code >= 400 ? -1 : 0;
}

/* smtp_send - one SMTP transaction; see mailsend_send */
static int smtp_send(const struct mailsend *m, const char *from,
    const char *const *rcpts, size_t nrcpt, const char *msg, size_t len,
    int *results, char *why, size_t whylen)
{
	struct smtp s = { .timeout_ms = m->timeout_ms };
	size_t accepted = 0;
	int rc = -1, any_temp = 0, any_perm = 0;

	for (size_t i = 0; i < nrcpt; i++)
		results[i] = -1;
	if ((s.fd = smtp_connect(m, why, whylen)) < 0)
		return -1;
	if (smtp_reply(&s, "greeting", why, whylen) < 0)
		goto out;
	if (s.code != 220) {
		/* a 554 greeting says "not now, not you": the server, not
		 * the message; try later */
		setwhy(why, whylen, "greeting: %s", s.text);
		goto out;
	}
	if (smtp_cmd(&s, "EHLO", why, whylen, "EHLO %s", m->helo) < 0)
		goto out;
	if (s.code != 250 && (smtp_cmd(&s, "HELO", why, whylen, "HELO %s",
	    m->helo) < 0 || s.code != 250)) {
		if (s.code)
			setwhy(why, whylen, "HELO: %s", s.text);
		goto out;
	}
	if (smtp_cmd(&s, "MAIL FROM", why, whylen, "MAIL FROM:<%s>",
	    from) < 0)
		goto out;
	if (s.code != 250) {
		setwhy(why, whylen, "MAIL FROM: %s", s.text);
		rc = outcome_of(s.code) == 1 ? 1 : -1;
		for (size_t i = 0; i < nrcpt; i++)
			results[i] = rc;
		goto quit;
	}
	for (size_t i = 0; i < nrcpt; i++) {
		if (smtp_cmd(&s, "RCPT TO", why, whylen, "RCPT TO:<%s>",
		    rcpts[i]) < 0)
			goto out;
		if (s.code == 250 || s.code == 251) {
			results[i] = 0;
			accepted++;
			continue;
		}
		results[i] = outcome_of(s.code) == 1 ? 1 : -1;
		if (results[i] == 1)
			any_perm = 1;
		else
			any_temp = 1;
		setwhy(why, whylen, "RCPT TO: %s", s.text);
	}
	if (accepted == 0) {
		rc = any_temp ? -1 : 1;
		goto quit;
	}
	if (smtp_cmd(&s, "DATA", why, whylen, "DATA") < 0)
		goto out;
	if (s.code != 354) {
		setwhy(why, whylen, "DATA: %s", s.text);
		rc = outcome_of(s.code) == 1 ? 1 : -1;
		goto refused;
	}
	if (smtp_data(&s, msg, len) < 0) {
		setwhy(why, whylen, "message: %s", strerror(errno));
		goto out;
	}
	if (smtp_reply(&s, "end of data", why, whylen) < 0)
		goto out;
	if (s.code != 250) {
		setwhy(why, whylen, "end of data: %s", s.text);
		rc = outcome_of(s.code) == 1 ? 1 : -1;
		goto refused;
	}
	rc = any_temp ? -1 : any_perm ? 1 : 0;
quit:
	/* best effort: the message is in the server's hands already */
	(void)smtp_cmd(&s, "QUIT", NULL, 0, "QUIT");
	close(s.fd);
	return rc;
refused:
	for (size_t i = 0; i < nrcpt; i++)
		if (results[i] == 0)
			results[i] = rc;
	goto quit;
out:
	/* the session broke: whatever was not confirmed is to retry */
	for (size_t i = 0; i < nrcpt; i++)
		if (results[i] == 0)
			results[i] = -1;
	close(s.fd);
	return -1;
}

/* ------------------------------------------------------------ sendmail */

/* sendmail_permanent - exit codes of sendmail(1) that will not change
 * on a retry (sysexits.h: EX_DATAERR, EX_NOUSER, EX_NOHOST, EX_NOPERM) */
static int sendmail_permanent(int status)
{
	return status == 65 || status == 67 || status == 68 || status == 77;
}

/* sendmail_send - pipe msg into "path -i -f from -- rcpts"; see
 * mailsend_send */
static int sendmail_send(const struct mailsend *m, const char *from,
    const char *const *rcpts, size_t nrcpt, const char *msg, size_t len,
    int *results, char *why, size_t whylen)
{
	long long deadline = now_ms() + m->timeout_ms;
	int in[2], out[2], status = 0, rc = -1, done_in = 0, done_out = 0;
	char **argv, outbuf[SENDMAIL_OUT_MAX + 1];
	struct buf lf;
	size_t off = 0, outlen = 0;
	pid_t pid, w;

	for (size_t i = 0; i < nrcpt; i++)
		results[i] = -1;
	/* LF line ends for the local submission */
	buf_init(&lf, len);
	for (size_t i = 0; i < len; i++)
		if (msg[i] != '\r' || i + 1 >= len || msg[i + 1] != '\n')
			(void)buf_appendc(&lf, msg[i]);
	argv = xcalloc(nrcpt + 7, sizeof(*argv));
	argv[0] = (char *)m->path;
	argv[1] = (char *)"-i";
	argv[2] = (char *)"-f";
	argv[3] = (char *)from;
	argv[4] = (char *)"--";
	for (size_t i = 0; i < nrcpt; i++)
		argv[5 + i] = (char *)rcpts[i];
	if (pipe2(in, O_CLOEXEC) < 0) {
		setwhy(why, whylen, "pipe: %s", strerror(errno));
		goto done;
	}
	if (pipe2(out, O_CLOEXEC) < 0) {
		setwhy(why, whylen, "pipe: %s", strerror(errno));
		close(in[0]);
		close(in[1]);
		goto done;
	}
	pid = fork();
	if (pid < 0) {
		setwhy(why, whylen, "fork: %s", strerror(errno));
		close(in[0]);
		close(in[1]);
		close(out[0]);
		close(out[1]);
		goto done;
	}
	if (pid == 0) {
		/* async-signal-safe calls only until exec */
		if (dup2(in[0], 0) < 0 || dup2(out[1], 1) < 0 ||
		    dup2(out[1], 2) < 0)
			_exit(75);
		closefrom(3);
		execv(m->path, argv);
		_exit(75);	/* EX_TEMPFAIL: cannot run sendmail */
	}
	close(in[0]);
	close(out[1]);
	fcntl(in[1], F_SETFL, O_NONBLOCK);
	fcntl(out[0], F_SETFL, O_NONBLOCK);
	if (lf.len == 0) {
		close(in[1]);
		done_in = 1;
	}
	/* feed stdin and drain its output together: a sendmail that
	 * writes much while we write never deadlocks either side */
	while (!done_out) {
		struct pollfd pfd[2];
		int np = 0, prc;

		pfd[np].fd = out[0];
		pfd[np++].events = POLLIN;
		if (!done_in) {
			pfd[np].fd = in[1];
			pfd[np++].events = POLLOUT;
		}
		prc = poll(pfd, (nfds_t)np, left_ms(deadline));
		if (prc < 0 && errno == EINTR)
			continue;
		if (prc <= 0)
			break;
		if (pfd[0].revents) {
			char tmp[1024];
			ssize_t r = read(out[0], tmp, sizeof(tmp));

			if (r > 0) {
				size_t keep = SENDMAIL_OUT_MAX - outlen;

				if ((size_t)r < keep)
					keep = (size_t)r;
				memcpy(outbuf + outlen, tmp, keep);
				outlen += keep;
			} else if (r == 0 || errno != EAGAIN) {
				done_out = 1;
			}
		}
		if (!done_in && np > 1 && pfd[1].revents) {
			ssize_t wr = write(in[1], lf.data + off, lf.len - off >
			    OUT_CHUNK ? OUT_CHUNK : lf.len - off);

			if (wr > 0)
				off += (size_t)wr;
			if ((wr < 0 && errno != EAGAIN && errno != EINTR) ||
			    off == lf.len) {
				close(in[1]);
				done_in = 1;
			}
		}
	}
	if (!done_in)
		close(in[1]);
	close(out[0]);
	while ((w = waitpid(pid, &status, WNOHANG)) == 0 &&
	    left_ms(deadline) > 0) {
		struct timespec ts = { 0, 10 * 1000000 };

		nanosleep(&ts, NULL);
	}
	outbuf[outlen] = '\0';
	for (size_t i = 0; i < outlen; i++)
		if (outbuf[i] == '\n' || outbuf[i] == '\r')
			outbuf[i] = ' ';
	if (w == 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		setwhy(why, whylen, "%s: no exit within %u ms (killed)",
		    m->path, m->timeout_ms);
	} else if (w < 0) {
		setwhy(why, whylen, "waitpid: %s", strerror(errno));
	} else if (WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
	    off == lf.len) {
		rc = 0;
	} else {
		char san[LOG_SAN_SIZE];

		if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
			rc = sendmail_permanent(WEXITSTATUS(status)) ? 1 : -1;
		if (WIFEXITED(status))
			setwhy(why, whylen, "%s: exit status %d%s%s%s",
			    m->path, WEXITSTATUS(status), off == lf.len ? "" :
			    " (message not all read)", outlen ? ": " : "",
			    log_sanitize(san, outbuf, outlen));
		else
			setwhy(why, whylen, "%s: killed by signal %d",
			    m->path, WTERMSIG(status));
	}
	for (size_t i = 0; i < nrcpt; i++)
		results[i] = rc;
done:
	free(argv);
	buf_free(&lf);
	return rc;
}

/* mailsend_send - see mailsend.h */
int mailsend_send(const struct mailsend *m, const char *from,
    const char *const *rcpts, size_t nrcpt, const char *msg, size_t len,
    int *results, char *why, size_t whylen)
{
	int local[MAILSEND_RCPTS_MAX];

	setwhy(why, whylen, "%s", "");
	if (nrcpt == 0 || nrcpt > MAILSEND_RCPTS_MAX) {
		setwhy(why, whylen, "%zu recipients (1..%d)", nrcpt,
		    MAILSEND_RCPTS_MAX);
		return 1;
	}
	if (*from != '\0' && !mailsend_addr_valid(from)) {
		setwhy(why, whylen, "sender address not usable");
		return 1;
	}
	for (size_t i = 0; i < nrcpt; i++)
		if (!mailsend_addr_valid(rcpts[i])) {
			setwhy(why, whylen, "recipient address not usable");
			return 1;
		}
	if (results == NULL)
		results = local;
	if (m->kind == MAILSEND_SENDMAIL)
		return sendmail_send(m, from, rcpts, nrcpt, msg, len, results,
		    why, whylen);
	return smtp_send(m, from, rcpts, nrcpt, msg, len, results, why,
	    whylen);
}
