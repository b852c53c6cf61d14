/*
 * spf.h - postern's own SPF evaluator (RFC 7208 check_host()).
 *
 * Public: spf_check_new, spf_check_run, spf_check_questions,
 *         spf_check_answer, spf_check_abort, spf_check_free,
 *         spf_check_sync, spf_record_syntax, spf_result_name,
 *         spf_result_parse, spf_result_header_name, spf_domain_valid.
 * Trust: every input is hostile: the client IP, HELO and MAIL FROM come
 *        from the SMTP peer, and SPF records, explanations and every DNS
 *        answer come from whoever controls the sender's DNS.  The record
 *        parser checks the whole record against the RFC 7208 ABNF before
 *        anything is evaluated; macro expansion is bounded; the limits of
 *        RFC 7208 4.6.4 (10 DNS-querying terms, 2 void lookups, 10 MX and
 *        PTR names) are enforced, and the caller enforces a time budget.
 * RFCs: 7208 (SPF), 4408 (older suite differences noted where they apply).
 * Errors: the evaluation always ends in one of the seven SPF results;
 *         spf_check_problem() tells why for temperror/permerror.
 *
 * How it runs without blocking: the engine knows nothing about sockets.
 * spf_check_run() evaluates from the start using the DNS answers supplied
 * so far.  When it needs answers it does not have, it returns
 * SPF_RUN_NEED_DNS and spf_check_questions() lists every question it could
 * not answer in this pass (several at once where lookups are independent:
 * all the address lookups of an "mx" or "ptr" term go out together).  The
 * caller resolves them by any means (event loop, blocking, test data),
 * hands each answer to spf_check_answer() and calls spf_check_run() again.
 * A pass is cheap (parsing a few records), and replaying from the start
 * keeps the evaluator a plain recursive function of the RFC's shape, with
 * answers pinned for the whole check so a cache expiry mid-check cannot
 * make it inconsistent.
 */
#ifndef POSTERN_SPF_H
#define POSTERN_SPF_H

#include <stddef.h>
#include <time.h>

#include "dns.h"
#include "inet.h"

enum spf_result {
	SPF_NONE,
	SPF_NEUTRAL,
	SPF_PASS,
	SPF_FAIL,
	SPF_SOFTFAIL,
	SPF_TEMPERROR,
	SPF_PERMERROR,
};
#define SPF_RESULT_COUNT 7

enum spf_run { SPF_RUN_DONE, SPF_RUN_NEED_DNS };

/* RFC 7208 4.6.4 and our own bounds; spf_limits_default() fills these */
struct spf_limits {
	unsigned dns_terms;	/* include a mx ptr exists redirect: 10 */
	unsigned void_lookups;	/* NXDOMAIN/no-data answers: 2 */
	unsigned mx_names;	/* MX names per "mx": 10 */
	unsigned ptr_names;	/* PTR names examined: 10 */
	unsigned passes;	/* evaluation passes before giving up: 64 */
};

struct spf_request {
	struct ipaddr ip;	/* client; IPv4-mapped IPv6 is unmapped */
	int ip_upper;		/* %{i} nibbles in upper case, as the
				   address was written */
	const char *sender;	/* MAIL FROM address without <>, or "" */
	const char *helo;	/* HELO/EHLO argument */
	const char *domain;	/* identity to check: sender domain or HELO */
	const char *receiver;	/* our host name for %{r}; NULL: "unknown" */
	const char *default_exp;/* macro-string used when a fail has no exp;
				   NULL: no explanation */
	const char *record;	/* evaluate this record for the top level
				   instead of the domain's TXT (e.g.
				   "v=spf1 a -all": does the name point to
				   the client?); NULL: the published one */
	time_t now;		/* for %{t}; 0: time(NULL) */
};

struct spf_check;

/* a synchronous answer source (the DNS cache): a referenced answer or
 * NULL when the caller has to wait for it */
typedef struct dns_answer *spf_cache_fn(void *arg, const char *name,
    uint16_t type);

void spf_limits_default(struct spf_limits *lim);
struct spf_check *spf_check_new(const struct spf_request *req,
    const struct spf_limits *lim);
void spf_check_set_cache(struct spf_check *c, spf_cache_fn *fn, void *arg);
enum spf_run spf_check_run(struct spf_check *c);
size_t spf_check_questions(struct spf_check *c,
    const struct dns_question **q_r);
void spf_check_answer(struct spf_check *c, const char *name,
    uint16_t type, struct dns_answer *answer);
void spf_check_abort(struct spf_check *c, enum spf_result result,
    const char *problem);
void spf_check_free(struct spf_check **cp);

enum spf_result spf_check_result(const struct spf_check *c);
const char *spf_check_explanation(const struct spf_check *c);
const char *spf_check_problem(const struct spf_check *c);
const char *spf_check_mechanism(const struct spf_check *c);
unsigned spf_check_lookups(const struct spf_check *c);

enum spf_result spf_check_sync(struct spf_check *c, struct dns_resolver *r,
    unsigned budget_ms);

int spf_record_syntax(const char *record, size_t len, const char **err_r);
int spf_explain_syntax(const char *txt, size_t len);
int spf_domain_valid(const char *domain);

const char *spf_result_name(enum spf_result r);
const char *spf_result_header_name(enum spf_result r);
int spf_result_parse(const char *s, enum spf_result *r_r);

#endif
