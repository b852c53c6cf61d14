/*
 * mailsend.h - hand one message to a mail server: a small SMTP client
 *              (RFC 5321: EHLO, MAIL, RCPT, DATA, QUIT) or a pipe into
 *              sendmail(1) (Postfix's or any compatible one).  Used for
 *              DMARC aggregate reports (postern-dmarc-report) and
 *              failure reports (postern-dmarc).
 *
 * Public: mailsend_init, mailsend_send, mailsend_addr_valid,
 *         mailsend_describe.
 * Trust: the transport spec is the admin's; the SMTP server or sendmail
 *        is trusted to deliver but not to behave: every read and write
 *        waits at most the timeout, a reply line longer than
 *        MAILSEND_LINE_MAX or a reply of more than MAILSEND_REPLY_LINES
 *        lines ends the session (try later), and what a server says is
 *        kept only as bounded, sanitized text for the log.  Addresses
 *        may come from DNS (a rua= mailbox): mailsend_addr_valid refuses
 *        anything that could add an SMTP command or a header line.
 * Errors: mailsend_init 0 / -1 with *err_r (static text);
 *         mailsend_send three outcomes, as the store's lookups:
 *           0 accepted (every recipient), 1 refused for good (a 5xx to
 *           RCPT or to the message, or sendmail's permanent exit codes),
 *           -1 try later (no connection, a timeout, a 4xx, a server that
 *           breaks the protocol, sendmail killed or tempfailing);
 *         with the reason in why[] ("RCPT TO: 550 5.1.1 ...").
 *
 * The message is a complete RFC 5322 message, header and body, with
 * CRLF or LF line ends: SMTP gets CRLF (bare LF become CRLF) with
 * leading dots doubled (RFC 5321 4.5.2); sendmail gets LF line ends
 * and -i, so a lone "." line is data, not the end.
 *
 * sendmail is run as "PATH -i -f FROM -- RCPT..." with the message on
 * its standard input and its output kept (bounded) for why[]; it must
 * exit within the timeout or it is killed (try later).  The child
 * closes every inherited descriptor above 2 before exec, so a daemon's
 * sockets never leak into it.  Writing into a sendmail that died early
 * raises SIGPIPE: callers ignore SIGPIPE (every postern daemon and
 * tool does).  Host names of smtp: are resolved with getaddrinfo (the
 * system resolver, not bounded by the timeout: use an address, or a
 * name in /etc/hosts).
 *
 * Threads: a struct mailsend is read-only after mailsend_init; any
 * thread may send with it.  No STARTTLS: hand reports to a local MTA.
 */
#ifndef POSTERN_MAILSEND_H
#define POSTERN_MAILSEND_H

#include <stddef.h>
#include <time.h>

#define MAILSEND_LINE_MAX	512	/* a reply line with CRLF (RFC 5321
					   4.5.3.1.5) */
#define MAILSEND_REPLY_LINES	100	/* lines of one multi-line reply */
#define MAILSEND_ADDR_MAX	256	/* an envelope address (RFC 5321
					   4.5.3.1.3: a path is 256 with <>) */
#define MAILSEND_RCPTS_MAX	100	/* recipients of one message */
#define MAILSEND_HOST_MAX	256
#define MAILSEND_PATH_MAX	1024	/* sendmail's path */
#define MAILSEND_WHY_MAX	256	/* why[] the caller should offer */

enum mailsend_kind { MAILSEND_SMTP, MAILSEND_SENDMAIL };

struct mailsend {
	enum mailsend_kind kind;
	char host[MAILSEND_HOST_MAX];		/* smtp: */
	char port[8];
	char path[MAILSEND_PATH_MAX];		/* sendmail: */
	char helo[MAILSEND_HOST_MAX];
	unsigned timeout_ms;			/* each connect, read, write;
						   sendmail: the whole run */
};

/*
 * mailsend_init - parse "smtp:HOST[:PORT]" (IPv6 as smtp:[ADDR]:PORT;
 * port 25 by default) or "sendmail:/ABSOLUTE/PATH"; helo is the EHLO
 * name (a host name; empty: "localhost").
 */
int mailsend_init(struct mailsend *m, const char *spec, const char *helo,
    unsigned timeout_ms, const char **err_r);

/*
 * mailsend_send - send msg (len bytes) from the envelope sender from
 * ("" for the null sender) to nrcpt recipients.  Returns 0, 1 or -1 as
 * above; results (if not NULL) gets each recipient's own outcome (SMTP
 * can accept some and refuse others: then the accepted ones get the
 * message and the return is 1, or -1 if any refusal was temporary).
 */
int mailsend_send(const struct mailsend *m, const char *from,
    const char *const *rcpts, size_t nrcpt, const char *msg, size_t len,
    int *results, char *why, size_t whylen);

/* mailsend_addr_valid - 1 if addr is a mailbox local@domain we can put in
 * MAIL FROM:<>, RCPT TO:<> and a header: printable ASCII, no space, no
 * <>()[],;:\" outside the local part's dots, one '@', under the bound */
int mailsend_addr_valid(const char *addr);

#define MAILSEND_DATE_MAX 40
/* mailsend_date - t as an RFC 5322 date-time (UTC) for a Date: header */
const char *mailsend_date(time_t t, char *out);

/* mailsend_describe - the transport as text for logs ("smtp:H:P") */
void mailsend_describe(const struct mailsend *m, char *out, size_t outlen);

#endif
