/*
 * dmarc_ruf.h - DMARC failure reports (ruf=): whether fo= asks for one,
 *               the report message (RFC 6591 ARF "auth-failure" as RFC
 *               9991 updates it, or as RFC 7489 7.3.1 in rfc7489 mode),
 *               a rate limiter shared by the milter's threads, and
 *               delivery to every usable ruf= mailbox through mailsend,
 *               off the caller's thread when an outbox is given.
 *
 * Public: dmarc_ruf_wanted, dmarc_ruf_build, dmarc_ruf_limit_new,
 *         dmarc_ruf_limit_take, dmarc_ruf_limit_domains,
 *         dmarc_ruf_limit_free, dmarc_ruf_outbox_new, dmarc_ruf_outbox_put,
 *         dmarc_ruf_outbox_flush, dmarc_ruf_outbox_stats,
 *         dmarc_ruf_outbox_free, dmarc_ruf_send, dmarc_ruf_outcome_text,
 *         DMARC_RUF_CFG_DEFS.
 * Trust: everything taken from the message is hostile: header names and
 *        values, HELO, envelope addresses (peer data); SPF records and
 *        ruf= URIs come from DNS (any domain owner).  Nothing here parses
 *        it: it is only copied into the report, and every copy is
 *        bounded and masked to printable ASCII (control bytes, NUL and
 *        8-bit bytes become '?', CR/LF/TAB runs become one space, so no
 *        value can end a line, add a header or a MIME boundary), then
 *        folded to lines of at most 78 characters where there is a space
 *        and never more than 998.  An original header field is kept up
 *        to DMARC_RUF_FIELD_MAX bytes (longer: cut), a peer string up to
 *        DMARC_RUF_PEER_MAX, an SPF record up to DMARC_RUF_SPF_TXT_MAX;
 *        a whole report is at most DMARC_RUF_MAX_BYTES (or the smaller
 *        !size of an RFC 7489 ruf= URI): header fields that do not fit
 *        are left out, and the text part says how many.  The MIME
 *        boundary holds 128 random bits and is checked against the
 *        content.  ruf= mailboxes must pass mailsend_addr_valid.
 * Errors: dmarc_ruf_build 0 / -1 with *err_r (static text: the report
 *         cannot fit max_bytes, a bad argument); dmarc_ruf_send never
 *         fails: it returns how many reports went out (or were queued)
 *         and says in a struct dmarc_ruf_outcome what was skipped and
 *         why; dmarc_ruf_outbox_new NULL with *err_r (no thread).
 *
 * RFCs: 9991 (DMARC failure reporting), 6591 (auth-failure ARF), 5965
 *       (ARF), 6522 (multipart/report), 7489 7.3 (RFC 7489 mode),
 *       9989 4.7 (fo=), 9990 4 / 7489 7.1 (external destinations),
 *       3834 (Auto-Submitted).
 *
 * fo= (dmarc_ruf_wanted).  Only for a message with a policy record that
 * has ruf= URIs and no psd=y (RFC 9991 2), and a DMARC result of pass or
 * fail (no report on temperror/permerror/none):
 *   0 (default)  a DMARC report when no mechanism gave an aligned pass;
 *   1            a DMARC report when any of SPF and DKIM did not give an
 *                aligned pass (a message with no signature counts: DKIM
 *                gave none);
 *   d            a DKIM report (Auth-Failure: signature) when any
 *                signature failed, aligned or not: results fail, neutral,
 *                policy, permerror (temperror is not a failure);
 *   s            an SPF report (Auth-Failure: spf) when SPF failed:
 *                fail, softfail, permerror.
 * A DMARC report carries the DKIM and SPF details, so when one goes out
 * the DKIM and SPF reports for the same message are not sent as well
 * (fewer messages to the same consumer: RFC 9991 8.1).
 *
 * The report (dmarc_ruf_build): multipart/report;
 * report-type=feedback-report, with a text/plain part for people, the
 * message/feedback-report part (Feedback-Type: auth-failure, User-Agent,
 * Version: 1, Auth-Failure, Authentication-Results, Identity-Alignment
 * for DMARC reports, Delivery-Result when given, DKIM-Domain,
 * DKIM-Identity ("@" d=: the i= is not known here) and DKIM-Selector of
 * one signature when the message had any (a failed aligned one first),
 * SPF-DNS when records are known, Original-Envelope-Id (the MTA's queue
 * id, as in RFC 9991's example), Original-Mail-From, Original-Rcpt-To
 * only when the caller gives one, Arrival-Date, Reporting-MTA,
 * Source-IP, Reported-Domain), then the original header as
 * text/rfc822-headers: never the body (privacy, RFC 9991 7).
 * Identity-Alignment lists the mechanisms that FAILED to give an aligned
 * pass ("none" when both passed) per RFC 9991; in rfc7489 mode it lists
 * those that PRODUCED one ("none" when neither did): the two RFCs give
 * the field opposite meanings.  Header values of the original are
 * unfolded, masked and refolded; names keep printable ASCII but ':'.
 * All lines end in CRLF.
 *
 * Delivery (dmarc_ruf_send): every mailto: URI of ruf= (other schemes
 * skipped), each address once; a destination outside the policy
 * domain's organizational domain needs dmarc_report_authorized() == 1
 * (0: skipped as unauthorized, -1: DNS failure, skipped for now: no
 * retry).  The override URIs an authorization record may publish (RFC
 * 9990 4) are not followed.  Each report kind takes one token from the
 * rate limiter (the policy domain's bucket and the total one), whatever
 * the number of destinations; a report refused by the limiter is
 * dropped (counted in the outcome).  Each destination gets its own
 * message (its own To:); failure_reports_bcc gets a copy of the first,
 * outside the limits.  A message that is itself a feedback report
 * (Content-Type with report-type=feedback-report) never gets a report:
 * two reporters cannot loop.  SPF-DNS: when the caller gives no SPF
 * record and a lookup function is set, the TXT records of the SPF
 * domain are looked up once (the resolver's cache has them: SPF just
 * read them) and those starting v=spf1 are quoted.
 *
 * Blocking.  Without an outbox, dmarc_ruf_send talks to the transport
 * itself: each connect, read and write waits at most the transport
 * timeout (mailsend.h), once per destination.  With an outbox (one per
 * process), reports are queued (at most DMARC_RUF_QUEUE_MAX, or the
 * outbox's bound; more are dropped and counted) and one thread delivers
 * them and logs each outcome: the caller waits only for the
 * authorization lookups (bounded by the resolver's budget).  A report
 * that cannot be delivered now is not retried (failure reports are
 * best effort; the aggregate reports carry the counts).
 *
 * Rate limiter (dmarc_ruf_limit_*): token buckets, one per policy domain
 * (at most max_domains, least recently used dropped first: a dropped
 * domain comes back with a full bucket) and one for all reports.  A
 * bucket holds up to N tokens, starts full and gains N per hour
 * continuously (integer arithmetic in 1/3600 token units per second,
 * so counts are exact): a burst of N, then N per hour.  A report needs
 * a token in both buckets and takes from neither unless both have one.
 * Time is the caller's (fake time in tests); a clock going backwards
 * adds nothing.
 *
 * Threads: dmarc_ruf_build and dmarc_ruf_wanted are pure; a limiter and
 * an outbox are shared by any number of threads (one mutex each);
 * dmarc_ruf_send only reads its options.
 */
#ifndef POSTERN_DMARC_RUF_H
#define POSTERN_DMARC_RUF_H

#include <stddef.h>
#include <time.h>

#include "buf.h"
#include "cfg.h"
#include "dmarc.h"
#include "mailsend.h"

#define DMARC_RUF_MAX_BYTES	65536	/* one report message */
#define DMARC_RUF_FIELD_MAX	4096	/* an original header field kept */
#define DMARC_RUF_NAME_MAX	76	/* an original header name kept */
#define DMARC_RUF_PEER_MAX	256	/* HELO, an address, a queue id */
#define DMARC_RUF_SPF_DNS_MAX	4	/* SPF-DNS fields */
#define DMARC_RUF_SPF_TXT_MAX	1024	/* bytes of one SPF record quoted */
#define DMARC_RUF_QUEUE_MAX	256	/* reports waiting in an outbox */
#define DMARC_RUF_HOUR		3600	/* seconds of the limiter's period */

/* report kinds: dmarc_ruf_wanted's bits, dmarc_ruf_build's kind */
#define DMARC_RUF_DMARC	0x1	/* Auth-Failure: dmarc (fo=0, fo=1) */
#define DMARC_RUF_DKIM	0x2	/* Auth-Failure: signature (fo=d) */
#define DMARC_RUF_SPF	0x4	/* Auth-Failure: spf (fo=s) */

/* the milter's keys for failure reports (failure_reports itself is in
 * its table); transport, sender and org name are the report_* keys of
 * DMARC_REPORT_CFG_DEFS */
#define DMARC_RUF_CFG_DEFS \
	{ "failure_reports_per_domain", NULL, CFG_INT, "10", 1, 100000, \
	  NULL, "failure reports: most reports per hour about one policy " \
	  "domain (a burst of this many, then this many per hour)" }, \
	{ "failure_reports_per_hour", NULL, CFG_INT, "100", 1, 1000000, \
	  NULL, "failure reports: most reports per hour in all (a burst " \
	  "of this many, then this many per hour)" }, \
	{ "failure_reports_max_domains", NULL, CFG_INT, "10000", 10, \
	  10000000, NULL, "failure reports: policy domains whose rate is " \
	  "tracked (least recently used forgotten first)" }, \
	{ "failure_reports_bcc", "FailureReportsBcc", CFG_STR, NULL, 0, 0, \
	  NULL, "failure reports: also send a copy of every failure " \
	  "report to this address (empty: none)" }

/* one header field of the original message, as the milter has it */
struct dmarc_ruf_hdr {
	const char *name;
	const char *value;		/* may hold CR, LF, NUL, 8-bit */
	size_t vlen;
};

/* the facts of the failing message; every string may be NULL or "" */
struct dmarc_ruf_msg {
	const char *queue_id;		/* Original-Envelope-Id */
	const char *source_ip;		/* Source-IP (left out unless an
					   address) */
	const char *helo;		/* text part only */
	const char *mail_from;		/* "" or NULL: null sender (<>) */
	const char *rcpt;		/* Original-Rcpt-To; NULL: left out
					   (privacy) */
	time_t arrival;			/* Arrival-Date; 0: now */
	const struct dmarc_auth *auth;	/* what was evaluated (required) */
	const char *delivery_result;	/* delivered|spam|policy|reject|
					   other, or NULL */
	const char *spf_dns[DMARC_RUF_SPF_DNS_MAX]; /* SPF records of
					   auth->spf_domain, or none */
	size_t nspf_dns;
	const struct dmarc_ruf_hdr *hdrs;	/* the original header */
	size_t nhdrs;
};

/* who reports (the report_* keys) */
struct dmarc_ruf_reporter {
	const char *from;		/* report_email: From:, envelope */
	const char *org_name;		/* report_org_name; NULL/"": domain */
	const char *org_domain;		/* report_org_domain: Subject,
					   Message-ID */
	const char *authserv_id;	/* the Authentication-Results field */
	const char *reporting_mta;	/* our host name; NULL: left out */
	enum dmarc_mode mode;		/* Identity-Alignment's meaning */
};

/*
 * dmarc_ruf_wanted - which reports (DMARC_RUF_* bits, 0: none) fo= asks
 * for this evaluation; r is the record applied (normally &ev->rec)
 */
unsigned dmarc_ruf_wanted(const struct dmarc_record *r,
    const struct dmarc_eval *ev, const struct dmarc_auth *a);

/*
 * dmarc_ruf_build - one report of one kind (a single DMARC_RUF_* bit)
 * about message m to the mailbox to, in at most max_bytes (0 or more
 * than DMARC_RUF_MAX_BYTES: DMARC_RUF_MAX_BYTES).  out is reset; its
 * own maximum must allow the result.  -1: even with no original header
 * field the report is larger than max_bytes, or a bad argument.
 * *omitted_r (if not NULL) gets how many header fields were left out.
 */
int dmarc_ruf_build(const struct dmarc_ruf_reporter *rp,
    const struct dmarc_ruf_msg *m, const struct dmarc_eval *ev,
    unsigned kind, const char *to, size_t max_bytes, struct buf *out,
    size_t *omitted_r, const char **err_r);

/* --------------------------------------------------------- rate limiter */

struct dmarc_ruf_limit;

struct dmarc_ruf_limit *dmarc_ruf_limit_new(unsigned per_domain_per_hour,
    unsigned total_per_hour, size_t max_domains);
/* dmarc_ruf_limit_take - 1: a report about domain may go out now (a
 * token taken from both buckets), 0: limited */
int dmarc_ruf_limit_take(struct dmarc_ruf_limit *l, const char *domain,
    time_t now);
/* dmarc_ruf_limit_domains - domains tracked now (<= max_domains) */
size_t dmarc_ruf_limit_domains(struct dmarc_ruf_limit *l);
void dmarc_ruf_limit_free(struct dmarc_ruf_limit **lp);

/* --------------------------------------------------------------- outbox */

struct dmarc_ruf_outbox;

struct dmarc_ruf_outbox_stats {
	size_t queued;			/* waiting or being sent now */
	size_t sent, refused, deferred;	/* mailsend_send outcomes */
	size_t dropped;			/* the queue was full */
};

/* dmarc_ruf_outbox_new - a delivery thread with a queue of at most
 * max_queued reports (0: DMARC_RUF_QUEUE_MAX); NULL if no thread */
struct dmarc_ruf_outbox *dmarc_ruf_outbox_new(size_t max_queued,
    const char **err_r);
/* dmarc_ruf_outbox_put - queue a copy of msg for rcpt through the
 * transport ms (copied); tag names it in the log (queue id); 0 queued,
 * -1 queue full (dropped, counted) */
int dmarc_ruf_outbox_put(struct dmarc_ruf_outbox *o,
    const struct mailsend *ms, const char *from, const char *rcpt,
    const char *msg, size_t len, const char *tag);
/* dmarc_ruf_outbox_flush - wait up to wait_ms for the queue to be
 * empty and nothing being sent; 0 done, -1 not yet */
int dmarc_ruf_outbox_flush(struct dmarc_ruf_outbox *o, unsigned wait_ms);
void dmarc_ruf_outbox_stats(struct dmarc_ruf_outbox *o,
    struct dmarc_ruf_outbox_stats *s);
/* dmarc_ruf_outbox_free - deliver what is queued for up to wait_ms,
 * drop the rest (logged), wait for the report being sent, free */
void dmarc_ruf_outbox_free(struct dmarc_ruf_outbox **op, unsigned wait_ms);

/* ----------------------------------------------------------------- send */

struct dmarc_ruf_send_opts {
	const struct dmarc_ruf_reporter *reporter;
	const struct dmarc *dmarc;	/* dmarc_report_authorized */
	dmarc_lookup_fn *lookup;	/* SPF-DNS lookups; NULL: none */
	void *lookup_arg;
	const struct mailsend *transport;
	const char *bcc;		/* NULL or "": no copy */
	struct dmarc_ruf_limit *limit;	/* required */
	struct dmarc_ruf_outbox *outbox; /* NULL: deliver here, blocking */
	time_t now;			/* 0: time(NULL) */
};

struct dmarc_ruf_outcome {
	unsigned kinds;			/* what fo= asked for */
	size_t sent;			/* messages delivered (or queued) */
	size_t limited;			/* reports the limiter refused */
	size_t unauthorized;		/* destinations not authorized */
	size_t deferred;		/* DNS or transport: try later
					   (dropped) */
	size_t refused;			/* the transport refused for good */
	size_t skipped;			/* unusable URIs, over !size, queue
					   full */
	const char *why;		/* static text when nothing was sent,
					   or NULL */
};

/*
 * dmarc_ruf_send - the failure reports fo= asks for about message m to
 * every usable ruf= destination of ev's record; returns how many report
 * messages were delivered (or queued), the details in *out
 */
size_t dmarc_ruf_send(const struct dmarc_ruf_send_opts *o,
    const struct dmarc_ruf_msg *m, const struct dmarc_eval *ev,
    struct dmarc_ruf_outcome *out);

/* dmarc_ruf_outcome_text - "sent=N limited=N ..." (non-zero counts) for
 * a log line, into out */
const char *dmarc_ruf_outcome_text(const struct dmarc_ruf_outcome *oc,
    char *out, size_t outlen);

#endif
