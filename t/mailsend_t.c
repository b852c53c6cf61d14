/*
 * mailsend_t.c - tests for the SMTP client and the sendmail pipe
 *                (common/mailsend.c): a scripted SMTP server in a thread
 *                on 127.0.0.1, and shell scripts standing in for
 *                sendmail(1) that record their argv and input.
 *
 * Covered: a whole session (multi-line replies, dot-stuffing, CRLF),
 * EHLO refused (HELO), refusals and deferrals at each step, several
 * recipients, the bounds (reply line, reply lines, timeout), malformed
 * replies, no server, transport specs, addresses; sendmail's argv,
 * input, exit codes, a sendmail that hangs and one that reads nothing.
 */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "mailsend.h"
#include "tap.h"

struct fake {
	int lfd, port;
	const char *greeting;		/* NULL: never says anything */
	const char *ehlo, *helo, *mail, *rcpt[4], *data, *eod;
	char cmds[4096];		/* commands received, LF-joined */
	size_t ncmds;
	char got[200000];		/* the DATA bytes as received */
	size_t gotlen;
	pthread_t th;
};

/* send_all - the whole string to fd */
static void send_all(int fd, const char *s)
{
	size_t n = strlen(s);

	while (n > 0) {
		ssize_t w = send(fd, s, n, MSG_NOSIGNAL);

		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

/* fake_serve - one session as the script says */
static void *fake_serve(void *arg)
{
	struct fake *f = arg;
	char in[300000];
	size_t inlen = 0;
	int fd = accept(f->lfd, NULL, NULL), indata = 0, nrcpt = 0;

	if (fd < 0)
		return NULL;
	if (f->greeting == NULL) {
		while (recv(fd, in, sizeof(in), 0) > 0)
			;
		close(fd);
		return NULL;
	}
	send_all(fd, f->greeting);
	for (;;) {
		ssize_t r = recv(fd, in + inlen, sizeof(in) - inlen - 1, 0);
		char *nl;

		if (r <= 0)
			break;
		inlen += (size_t)r;
		in[inlen] = '\0';
		for (;;) {
			if (indata) {
				char *end = strstr(in, "\r\n.\r\n");

				if (end == NULL)
					break;
				memcpy(f->got, in, (size_t)(end - in) + 2);
				f->gotlen = (size_t)(end - in) + 2;
				inlen -= (size_t)(end + 5 - in);
				memmove(in, end + 5, inlen + 1);
				indata = 0;
				send_all(fd, f->eod);
				continue;
			}
			if ((nl = strstr(in, "\r\n")) == NULL)
				break;
			*nl = '\0';
			f->ncmds += (size_t)snprintf(f->cmds + f->ncmds,
			    sizeof(f->cmds) - f->ncmds, "%s\n", in);
			if (!strncmp(in, "EHLO", 4))
				send_all(fd, f->ehlo);
			else if (!strncmp(in, "HELO", 4))
				send_all(fd, f->helo);
			else if (!strncmp(in, "MAIL", 4))
				send_all(fd, f->mail);
			else if (!strncmp(in, "RCPT", 4))
				send_all(fd, f->rcpt[nrcpt < 3 ? nrcpt++ : 3]);
			else if (!strncmp(in, "DATA", 4)) {
				send_all(fd, f->data);
				indata = !strncmp(f->data, "354", 3);
			} else if (!strncmp(in, "QUIT", 4)) {
				send_all(fd, "221 bye\r\n");
				close(fd);
				return NULL;
			} else {
				send_all(fd, "502 what\r\n");
			}
			inlen -= (size_t)(nl + 2 - in);
			memmove(in, nl + 2, inlen + 1);
		}
	}
	close(fd);
	return NULL;
}

/* fake_start - a server with the usual happy replies */
static void fake_start(struct fake *f)
{
	struct sockaddr_in sa = { 0 };
	socklen_t sl = sizeof(sa);

	memset(f, 0, sizeof(*f));
	f->greeting = "220-fake.test ESMTP\r\n220 hello\r\n";
	f->ehlo = "250-fake.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n";
	f->helo = "250 fake.test\r\n";
	f->mail = "250 2.1.0 ok\r\n";
	for (int i = 0; i < 4; i++)
		f->rcpt[i] = "250 2.1.5 ok\r\n";
	f->data = "354 go\r\n";
	f->eod = "250 2.0.0 queued\r\n";
	f->lfd = socket(AF_INET, SOCK_STREAM, 0);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(f->lfd, 4) < 0 ||
	    getsockname(f->lfd, (struct sockaddr *)&sa, &sl) < 0) {
		perror("fake server");
		exit(1);
	}
	f->port = ntohs(sa.sin_port);
}

/* fake_run - start serving one session */
static void fake_run(struct fake *f)
{
	pthread_create(&f->th, NULL, fake_serve, f);
}

/* fake_end - wait for the session, close the listener */
static void fake_end(struct fake *f)
{
	pthread_join(f->th, NULL);
	close(f->lfd);
}

/* smtp_to - a struct mailsend for the fake server */
static void smtp_to(struct mailsend *m, int port, unsigned timeout_ms)
{
	char spec[64];
	const char *err;

	snprintf(spec, sizeof(spec), "smtp:127.0.0.1:%d", port);
	if (mailsend_init(m, spec, "client.test", timeout_ms, &err) < 0) {
		printf("Bail out! %s\n", err);
		exit(1);
	}
}

static const char MSG[] = "From: a@b.example\r\nSubject: t\r\n\r\n"
	".leading dot\r\nbare LF\nlast line, no newline";
static const char WIRE[] = "From: a@b.example\r\nSubject: t\r\n\r\n"
	"..leading dot\r\nbare LF\r\nlast line, no newline\r\n";

/* session - one message through a fake server scripted by the caller
 * (setup may change replies); rc, results and why */
static int session(void (*setup)(struct fake *), const char *const *rcpts,
    size_t n, int *results, char *why, struct fake *f)
{
	struct mailsend m;
	int rc;

	fake_start(f);
	if (setup)
		setup(f);
	fake_run(f);
	smtp_to(&m, f->port, 2000);
	rc = mailsend_send(&m, "from@x.example", rcpts, n, MSG, strlen(MSG),
	    results, why, MAILSEND_WHY_MAX);
	fake_end(f);
	return rc;
}

static void no_ehlo(struct fake *f) { f->ehlo = "502 5.5.1 no\r\n"; }
static void rcpt550(struct fake *f) { f->rcpt[0] = "550 5.1.1 no such\r\n"; }
static void rcpt450(struct fake *f) { f->rcpt[0] = "450 4.2.0 later\r\n"; }
static void mixed(struct fake *f) { f->rcpt[1] = "550 5.1.1 no\r\n"; }
static void eod554(struct fake *f) { f->eod = "554 5.7.1 spam\r\n"; }
static void eod451(struct fake *f) { f->eod = "451 4.3.0 later\r\n"; }
static void mail553(struct fake *f) { f->mail = "553 5.1.8 bad from\r\n"; }
static void greet554(struct fake *f) { f->greeting = "554 go away\r\n"; }
static void data503(struct fake *f) { f->data = "554 5.5.1 no data\r\n"; }
static void silent(struct fake *f) { f->greeting = NULL; }
static void badreply(struct fake *f) { f->ehlo = "hello there\r\n"; }
static void mixcodes(struct fake *f)
{
	f->ehlo = "250-fake.test\r\n251 odd\r\n";
}

static char longline[MAILSEND_LINE_MAX + 64];
static void toolong(struct fake *f) { f->ehlo = longline; }
static char maxline[MAILSEND_LINE_MAX + 8];
static void justfits(struct fake *f) { f->ehlo = maxline; }
static char *manylines, *enoughlines;
static void toomany(struct fake *f) { f->ehlo = manylines; }
static void enough(struct fake *f) { f->ehlo = enoughlines; }

/* lines - n reply lines "250-x" ending "250 x" */
static char *lines(int n)
{
	struct buf b;

	buf_init(&b, (size_t)n * 8 + 8);
	for (int i = 0; i < n; i++)
		buf_appends(&b, i + 1 < n ? "250-x\r\n" : "250 x\r\n");
	return buf_steal(&b);
}

static void test_smtp(void)
{
	const char *one[] = { "rcpt@y.example" };
	const char *two[] = { "r1@y.example", "r2@y.example" };
	char why[MAILSEND_WHY_MAX];
	int res[2];
	struct fake f;
	long long t0;

	is_int(session(NULL, one, 1, res, why, &f), 0, "session: accepted");
	is_int(res[0], 0, "session: recipient accepted");
	ok(f.gotlen == strlen(WIRE) && !memcmp(f.got, WIRE, f.gotlen),
	    "DATA: dot-stuffed, CRLF everywhere, final line ended");
	ok(strstr(f.cmds, "EHLO client.test\nMAIL FROM:<from@x.example>\n"
	    "RCPT TO:<rcpt@y.example>\nDATA\nQUIT\n") != NULL,
	    "commands in order, EHLO name, brackets");

	is_int(session(no_ehlo, one, 1, res, why, &f), 0,
	    "EHLO refused: HELO, accepted");
	ok(strstr(f.cmds, "HELO client.test\n") != NULL, "HELO sent");

	is_int(session(rcpt550, one, 1, res, why, &f), 1,
	    "RCPT 550: refused for good");
	ok(strstr(why, "550 5.1.1") != NULL, "why has the reply: %s", why);
	ok(strstr(f.cmds, "DATA") == NULL, "no DATA after every RCPT "
	    "refused");
	is_int(session(rcpt450, one, 1, res, why, &f), -1, "RCPT 450: later");
	is_int(res[0], -1, "RCPT 450: recipient to retry");

	is_int(session(mixed, two, 2, res, why, &f), 1,
	    "one recipient of two refused: 1");
	ok(res[0] == 0 && res[1] == 1, "per recipient: accepted, refused");
	ok(f.gotlen > 0, "the accepted one got the message");

	is_int(session(eod554, one, 1, res, why, &f), 1, "554 after data: 1");
	is_int(res[0], 1, "554 after data: recipient refused");
	is_int(session(eod451, one, 1, res, why, &f), -1, "451 after data");
	is_int(session(mail553, one, 1, res, why, &f), 1, "MAIL 553: 1");
	is_int(session(data503, one, 1, res, why, &f), 1, "DATA 554: 1");
	is_int(session(greet554, one, 1, res, why, &f), -1,
	    "554 greeting: later (the server, not the message)");

	is_int(session(badreply, one, 1, res, why, &f), -1,
	    "malformed reply: later");
	ok(strstr(why, "malformed") != NULL, "why: %s", why);
	is_int(session(mixcodes, one, 1, res, why, &f), -1,
	    "reply lines with different codes: later");

	memset(longline, 'x', sizeof(longline));
	memcpy(longline, "250 ", 4);
	memcpy(longline + MAILSEND_LINE_MAX, "\r\n", 3);
	is_int(session(toolong, one, 1, res, why, &f), -1,
	    "reply line of MAILSEND_LINE_MAX + 2 bytes: refused");
	ok(strstr(why, "too long") != NULL, "why: %s", why);
	memset(maxline, 'x', sizeof(maxline));
	memcpy(maxline, "250 ", 4);
	memcpy(maxline + MAILSEND_LINE_MAX - 2, "\r\n", 3);
	is_int(session(justfits, one, 1, res, why, &f), 0,
	    "reply line of MAILSEND_LINE_MAX bytes with CRLF: fine");

	manylines = lines(MAILSEND_REPLY_LINES + 1);
	enoughlines = lines(MAILSEND_REPLY_LINES);
	is_int(session(toomany, one, 1, res, why, &f), -1,
	    "MAILSEND_REPLY_LINES + 1 reply lines: refused");
	is_int(session(enough, one, 1, res, why, &f), 0,
	    "MAILSEND_REPLY_LINES reply lines: fine");
	free(manylines);
	free(enoughlines);

	{
		struct mailsend m;

		fake_start(&f);
		silent(&f);
		fake_run(&f);
		smtp_to(&m, f.port, 300);
		t0 = time(NULL);
		is_int(mailsend_send(&m, "a@b.example", one, 1, MSG,
		    strlen(MSG), res, why, sizeof(why)), -1,
		    "silent server: later");
		ok(time(NULL) - t0 <= 3, "silent server: given up after the "
		    "timeout");
		ok(strstr(why, "timeout") != NULL, "why: %s", why);
		shutdown(f.lfd, SHUT_RDWR);
		fake_end(&f);

		fake_start(&f);	/* a port nobody listens on */
		close(f.lfd);
		smtp_to(&m, f.port, 1000);
		is_int(mailsend_send(&m, "a@b.example", one, 1, MSG,
		    strlen(MSG), res, why, sizeof(why)), -1,
		    "connection refused: later");
		ok(strstr(why, "connect") != NULL, "why: %s", why);
	}
}

static void test_parse(void)
{
	struct mailsend m;
	const char *err;
	char d[MAILSEND_PATH_MAX + 16];

	is_int(mailsend_init(&m, "smtp:mx.example", NULL, 1000, &err), 0,
	    "smtp:HOST");
	ok(!strcmp(m.host, "mx.example") && !strcmp(m.port, "25") &&
	    !strcmp(m.helo, "localhost"), "default port 25, HELO localhost");
	is_int(mailsend_init(&m, "smtp:127.0.0.1:2525", "h.example", 1, &err),
	    0, "smtp:ADDR:PORT");
	mailsend_describe(&m, d, sizeof(d));
	is_str(d, "smtp:127.0.0.1:2525", "described");
	is_int(mailsend_init(&m, "smtp:[::1]:2525", "h", 1, &err), 0,
	    "smtp:[V6]:PORT");
	ok(!strcmp(m.host, "::1") && !strcmp(m.port, "2525"), "v6 parsed");
	mailsend_describe(&m, d, sizeof(d));
	is_str(d, "smtp:[::1]:2525", "v6 described");
	is_int(mailsend_init(&m, "sendmail:/usr/sbin/sendmail", "h", 1, &err),
	    0, "sendmail:PATH");
	is_int(m.kind, MAILSEND_SENDMAIL, "sendmail kind");
	is_int(mailsend_init(&m, "sendmail:sendmail", "h", 1, &err), -1,
	    "sendmail: relative path refused");
	is_int(mailsend_init(&m, "smtp:", "h", 1, &err), -1, "empty host");
	is_int(mailsend_init(&m, "smtp:h:0", "h", 1, &err), -1, "port 0");
	is_int(mailsend_init(&m, "smtp:h:70000", "h", 1, &err), -1,
	    "port 70000");
	is_int(mailsend_init(&m, "smtp:h:25x", "h", 1, &err), -1, "port 25x");
	is_int(mailsend_init(&m, "smtp:[::1", "h", 1, &err), -1, "no ]");
	is_int(mailsend_init(&m, "smtp:h/x", "h", 1, &err), -1, "host h/x");
	is_int(mailsend_init(&m, "lmtp:h", "h", 1, &err), -1, "lmtp: refused");
	is_int(mailsend_init(&m, "smtp:h", "a b", 1, &err), -1,
	    "HELO with a space refused");
	is_int(mailsend_init(&m, "smtp:h", "a\r\nRSET", 1, &err), -1,
	    "HELO with CRLF refused");

	is_int(mailsend_addr_valid("dmarc-rua@example.com"), 1, "address");
	is_int(mailsend_addr_valid("a.b+c_d!#$%&'*/=?^`{|}~@x-y.example"), 1,
	    "atext local part");
	is_int(mailsend_addr_valid("a b@example.com"), 0, "space");
	is_int(mailsend_addr_valid("a@example.com>\r\nRCPT TO:<x@y"), 0,
	    "SMTP injection");
	is_int(mailsend_addr_valid("<a@example.com>"), 0, "brackets");
	is_int(mailsend_addr_valid("\"a\"@example.com"), 0, "quoted");
	is_int(mailsend_addr_valid("a@"), 0, "no domain");
	is_int(mailsend_addr_valid("@b"), 0, "no local part");
	is_int(mailsend_addr_valid("ab"), 0, "no @");
	is_int(mailsend_addr_valid(".a@b"), 0, "leading dot");
	is_int(mailsend_addr_valid("a..b@c"), 0, "double dot");
	is_int(mailsend_addr_valid("a@b..c"), 0, "domain double dot");
	is_int(mailsend_addr_valid("a\xc3\xa9@b"), 0, "8-bit local part");
	{
		char big[MAILSEND_ADDR_MAX + 2];

		memset(big, 'a', sizeof(big));
		memcpy(big + MAILSEND_ADDR_MAX - 7, "@b.exam", 8);
		is_int(mailsend_addr_valid(big), 0, "MAILSEND_ADDR_MAX bytes: "
		    "refused");
		memcpy(big + MAILSEND_ADDR_MAX - 8, "@b.exam", 8);
		is_int(mailsend_addr_valid(big), 1, "one less: fine");
	}
}

/* script - an executable sh script at dir/name */
static void script(const char *path, const char *body)
{
	FILE *fp = fopen(path, "w");

	fprintf(fp, "#!/bin/sh\n%s", body);
	fclose(fp);
	chmod(path, 0755);
}

/* slurp - a file's contents (static buffer) */
static const char *slurp(const char *path)
{
	static char data[300000];
	FILE *fp = fopen(path, "r");
	size_t n = 0;

	if (fp) {
		n = fread(data, 1, sizeof(data) - 1, fp);
		fclose(fp);
	}
	data[n] = '\0';
	return data;
}

static void test_sendmail(void)
{
	char dir[] = "/tmp/mailsend_t.XXXXXX", path[256], spec[300];
	char body[1024], why[MAILSEND_WHY_MAX], *big;
	const char *rcpts[] = { "r1@y.example", "-oi@y.example" };
	const char *err;
	struct mailsend m;
	int res[2];
	long long t0;

	if (mkdtemp(dir) == NULL) {
		ok(0, "mkdtemp");
		return;
	}
	snprintf(path, sizeof(path), "%s/sendmail", dir);
	snprintf(spec, sizeof(spec), "sendmail:%s", path);
	snprintf(body, sizeof(body), "for a in \"$@\"; do printf '[%%s]' "
	    "\"$a\"; done > %s/argv\ncat > %s/stdin\nexit ${SM_EXIT:-0}\n",
	    dir, dir);
	script(path, body);
	mailsend_init(&m, spec, "h", 5000, &err);
	is_int(mailsend_send(&m, "from@x.example", rcpts, 2, MSG, strlen(MSG),
	    res, why, sizeof(why)), 0, "sendmail exit 0: accepted");
	ok(res[0] == 0 && res[1] == 0, "both recipients");
	snprintf(path, sizeof(path), "%s/argv", dir);
	is_str(slurp(path), "[-i][-f][from@x.example][--][r1@y.example]"
	    "[-oi@y.example]", "argv: -i -f FROM -- RCPTS (a recipient "
	    "that looks like an option stays a recipient)");
	snprintf(path, sizeof(path), "%s/stdin", dir);
	is_str(slurp(path), "From: a@b.example\nSubject: t\n\n.leading dot\n"
	    "bare LF\nlast line, no newline", "stdin: LF line ends, no "
	    "dot-stuffing");

	setenv("SM_EXIT", "75", 1);
	is_int(mailsend_send(&m, "from@x.example", rcpts, 1, MSG, strlen(MSG),
	    res, why, sizeof(why)), -1, "exit 75 (EX_TEMPFAIL): later");
	ok(strstr(why, "exit status 75") != NULL, "why: %s", why);
	setenv("SM_EXIT", "67", 1);
	is_int(mailsend_send(&m, "from@x.example", rcpts, 1, MSG, strlen(MSG),
	    res, why, sizeof(why)), 1, "exit 67 (EX_NOUSER): refused");
	unsetenv("SM_EXIT");

	snprintf(path, sizeof(path), "%s/slow", dir);
	script(path, "cat >/dev/null\nexec sleep 30\n");
	snprintf(spec, sizeof(spec), "sendmail:%s", path);
	mailsend_init(&m, spec, "h", 500, &err);
	t0 = time(NULL);
	is_int(mailsend_send(&m, "from@x.example", rcpts, 1, MSG, strlen(MSG),
	    res, why, sizeof(why)), -1, "sendmail that hangs: later");
	ok(time(NULL) - t0 <= 3 && strstr(why, "killed") != NULL,
	    "killed after the timeout: %s", why);

	snprintf(path, sizeof(path), "%s/deaf", dir);
	script(path, "echo 'sendmail: fatal: no' >&2\nexit 0\n");
	snprintf(spec, sizeof(spec), "sendmail:%s", path);
	mailsend_init(&m, spec, "h", 5000, &err);
	big = malloc(1 << 20);
	memset(big, 'a', 1 << 20);
	is_int(mailsend_send(&m, "from@x.example", rcpts, 1, big, 1 << 20,
	    res, why, sizeof(why)), -1, "sendmail that reads nothing: later");
	ok(strstr(why, "not all read") && strstr(why, "fatal: no"),
	    "why has its output: %s", why);
	free(big);

	snprintf(spec, sizeof(spec), "sendmail:%s/missing", dir);
	mailsend_init(&m, spec, "h", 5000, &err);
	is_int(mailsend_send(&m, "from@x.example", rcpts, 1, MSG, strlen(MSG),
	    res, why, sizeof(why)), -1, "no such sendmail: later");

	is_int(mailsend_send(&m, "from@x.example", rcpts, 0, MSG, strlen(MSG),
	    res, why, sizeof(why)), 1, "no recipients: refused");
	{
		const char *bad[] = { "a@b\r\nDATA" };

		is_int(mailsend_send(&m, "from@x.example", bad, 1, MSG,
		    strlen(MSG), res, why, sizeof(why)), 1,
		    "bad recipient: refused before any transport");
	}
	snprintf(path, sizeof(path), "rm -rf %s", dir);
	if (system(path) != 0)
		ok(0, "cleanup");
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	test_parse();
	test_smtp();
	test_sendmail();
	return done_testing();
}
