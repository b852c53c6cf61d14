/*
 * dmarc_agg.h - DMARC aggregate-report data: one row per distinct
 *               (source IP, identifiers, results, disposition), counted
 *               per policy domain and hour, kept in the shared store
 *               (embedded LMDB or Redis), read back by
 *               postern-dmarc-report (RFC 7489 Appendix C, RFC 9990).
 *
 * Public: struct dmarc_agg_row, dmarc_agg_row_encode, dmarc_agg_row_decode,
 *         dmarc_agg_bucket_name, dmarc_agg_bucket_parse,
 *         dmarc_agg_new, dmarc_agg_add, dmarc_agg_policy, dmarc_agg_flush,
 *         dmarc_agg_free, dmarc_agg_buckets, dmarc_agg_read,
 *         dmarc_agg_drop.
 * Trust: every string in a row comes from a message or its envelope
 *        (peer data: domains, selectors); they are bounded here
 *        (DMARC_AGG_FIELD_MAX each, DMARC_AGG_ROW_MAX encoded) and
 *        encoded so no value can add a field or a row; decode checks
 *        everything (the store may be shared by other hosts).
 * Errors: 0 / -1 with *err_r (static or per-thread text); a store that
 *         is down keeps the counts in memory (bounded by max_rows) and
 *         the next flush retries; rows over the bound are counted as
 *         dropped and logged, never silently lost.
 *
 * Buckets: "<hour>/<policy domain>" where hour is the Unix time of the
 *   start of the UTC hour the message was evaluated in.  The report tool
 *   merges hourly buckets into each domain's reporting interval (its ri=
 *   clamped to 1..24 h, RFC 7489 7.2).  A bucket holds counters keyed by
 *   an encoded row, plus "P" entries: the policy record text as
 *   published (the report's <policy_published>: the one seen most).
 *
 * Rows: text, "1" TAB then the fields TAB-separated: source_ip,
 *   header_from, envelope_from, disposition, dkim and spf (aligned:
 *   "pass"/"fail"), reason, reason_comment, the number of DKIM results
 *   (one digit), per DKIM result domain, selector, result, then
 *   spf_domain, spf_scope, spf_result.  Inside a value the bytes below
 *   0x21, '%' and 0x7f are written %XX (upper-case hex), nothing else
 *   is, so a row has one encoding and a value cannot add a field or a
 *   row.  A value may hold any byte but NUL (a LF comes back a LF: the
 *   report tool escapes for XML).  Decoding accepts exactly that form:
 *   the source IP as inet_ntop writes it, the words of the vocabularies
 *   above, each value shorter than its field.  An SPF result that is ""
 *   (none recorded) has an empty domain and scope; otherwise the scope is
 *   "mfrom" or "helo".  Policy records are keys "P" TAB escaped-record.
 *
 * Threads: the milter calls dmarc_agg_add from many threads (a mutex
 *   guards an in-memory table); a flusher (dmarc_agg_flush, from one
 *   thread every few seconds and at exit) moves the counts into the
 *   store in one atomic batch per bucket (in chunks of
 *   STORE_COUNT_ADD_MAX rows), so message latency never waits on the
 *   store.  On Redis the store should be the flusher's own, opened with
 *   a private loop (store_opts.base NULL).
 *
 * Exactly once: a batch that failed stays as it was, with its batch id
 *   (store_count_add_once: a random source per dmarc_agg, a sequence),
 *   and is sent again first at the next flush, so a batch that Redis
 *   ran although the call timed out is not counted twice.  Later batches
 *   of the same bucket wait behind it; other buckets go on.
 *
 * Reading and dropping: the report tool lists buckets, reads those whose
 *   hour is over (plus a margin for flushes still under way), reports
 *   them, then drops them; counts a flusher adds between the read and the
 *   drop are lost, so only buckets that no flusher writes any more
 *   should be dropped.
 */
#ifndef POSTERN_DMARC_AGG_H
#define POSTERN_DMARC_AGG_H

#include <stddef.h>
#include <time.h>

#include "inet.h"

#define DMARC_AGG_FIELD_MAX	256	/* bytes of one string field */
#define DMARC_AGG_DKIM_MAX	8	/* DKIM results kept per row */
#define DMARC_AGG_ROW_MAX	4096	/* bytes of one encoded row */
#define DMARC_AGG_BUCKET_MAX	300	/* "<hour>/<domain>", with NUL */
#define DMARC_AGG_ROWS_DEFAULT	100000	/* max_rows 0: this many */

struct store;

/* RFC 7489 App. C DispositionType / DMARCResultType / reason types */
enum dmarc_agg_disp { DMARC_AGG_NONE, DMARC_AGG_QUARANTINE,
	DMARC_AGG_REJECT };

/* one report row; strings are NUL-terminated, "" when absent */
struct dmarc_agg_row {
	char source_ip[IP_STR_MAX];
	char header_from[DMARC_AGG_FIELD_MAX];
	char envelope_from[DMARC_AGG_FIELD_MAX];	/* domain */
	enum dmarc_agg_disp disposition;	/* what we did */
	int dkim_aligned_pass;			/* policy_evaluated/dkim */
	int spf_aligned_pass;			/* policy_evaluated/spf */
	/* policy_evaluated/reason: "" or one of forwarded, sampled_out,
	 * trusted_forwarder, mailing_list, local_policy, other */
	char reason[32];
	char reason_comment[DMARC_AGG_FIELD_MAX];
	size_t ndkim;
	struct {
		char domain[DMARC_AGG_FIELD_MAX];
		char selector[DMARC_AGG_FIELD_MAX];
		char result[16];	/* none pass fail policy neutral
					   temperror permerror */
	} dkim[DMARC_AGG_DKIM_MAX];
	char spf_domain[DMARC_AGG_FIELD_MAX];
	char spf_scope[8];		/* "mfrom" or "helo" */
	char spf_result[16];		/* none neutral pass fail softfail
					   temperror permerror */
};

/* dmarc_agg_row_encode - row as one store key (bounded, no NUL/TAB/LF
 * inside fields); -1 over DMARC_AGG_ROW_MAX */
int dmarc_agg_row_encode(const struct dmarc_agg_row *r, char *out,
    size_t outlen);
/* dmarc_agg_row_decode - back from a store key; -1 on anything
 * malformed (fields checked against the vocabularies above) */
int dmarc_agg_row_decode(const char *s, size_t len, struct dmarc_agg_row *r);

/* dmarc_agg_bucket_name - "<hour>/<domain>" for time t (>= 0), the
 * domain's ASCII letters in lower case; -1 if too long, or the domain is
 * empty or holds a byte below 0x21, 0x7f, '/', '{' or '}' */
int dmarc_agg_bucket_name(time_t t, const char *domain, char *out,
    size_t outlen);
/* dmarc_agg_bucket_parse - hour start and domain (into dom) of a name
 * as dmarc_agg_bucket_name writes it; -1 for anything else */
int dmarc_agg_bucket_parse(const char *name, time_t *hour_r, char *dom,
    size_t domlen);

/* ------------------------------------------------ milter side: counting */

struct dmarc_agg;

/* s is borrowed (the caller closes it after dmarc_agg_free); max_rows
 * bounds the distinct rows held in memory, not yet stored (0: the
 * default) */
struct dmarc_agg *dmarc_agg_new(struct store *s, size_t max_rows);
/* dmarc_agg_add - count one message for policy domain dom at time t */
void dmarc_agg_add(struct dmarc_agg *a, time_t t, const char *dom,
    const struct dmarc_agg_row *r);
/* dmarc_agg_policy - note the policy record text seen for dom at t */
void dmarc_agg_policy(struct dmarc_agg *a, time_t t, const char *dom,
    const char *record);
/* dmarc_agg_flush - move the counts into the store; -1 (counts kept) if
 * the store failed; *dropped_r (may be NULL): messages not counted since
 * the last flush (a new row over max_rows, or a row or domain too long
 * to encode) */
int dmarc_agg_flush(struct dmarc_agg *a, size_t *dropped_r,
    const char **err_r);
/* dmarc_agg_free - flush once more (errors logged) and free */
void dmarc_agg_free(struct dmarc_agg **ap);

/* --------------------------------------------- report side: reading */

typedef int dmarc_agg_bucket_fn(void *arg, const char *bucket);
typedef int dmarc_agg_row_fn(void *arg, const struct dmarc_agg_row *r,
    unsigned long long count);
typedef int dmarc_agg_policy_fn(void *arg, const char *record,
    unsigned long long count);

/* dmarc_agg_buckets - every bucket name in the store that is one of
 * ours (fn non-zero stops; fn may drop the bucket it was given) */
int dmarc_agg_buckets(struct store *s, dmarc_agg_bucket_fn *fn, void *arg,
    const char **err_r);
/* dmarc_agg_read - a bucket's rows and policy records (malformed rows
 * are skipped and counted in *bad_r, which may be NULL); a callback's
 * non-zero stops; a callback may be NULL; they must not write to the
 * store */
int dmarc_agg_read(struct store *s, const char *bucket,
    dmarc_agg_row_fn *row_fn, dmarc_agg_policy_fn *pol_fn, void *arg,
    size_t *bad_r, const char **err_r);
/* dmarc_agg_drop - delete a bucket once it has been reported */
int dmarc_agg_drop(struct store *s, const char *bucket, const char **err_r);

#endif
