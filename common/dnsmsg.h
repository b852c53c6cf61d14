/*
 * dnsmsg.h - DNS answers: the parsed form every engine sees, and the
 *            parser that builds it from a wire-format response.
 *
 * Public: dnsmsg_parse, dns_answer_new, dns_answer_ref, dns_answer_unref,
 *         dns_status_name, dns_type_name, dns_type_parse, dns_name_valid.
 * Trust: the wire data comes from the network (any DNS server, or an
 *        attacker racing it).  The parser checks every length against the
 *        message, bounds compression-pointer chains, caps records per
 *        answer and never reads outside the buffer.  It has a fuzz target.
 * RFCs: 1035 (message format, compression), 2308 (negative caching TTL),
 *       3596 (AAAA).
 * Errors: dnsmsg_parse returns an answer whose status says what happened;
 *         a malformed message yields DNS_ERROR, never a crash.
 */
#ifndef POSTERN_DNSMSG_H
#define POSTERN_DNSMSG_H

#include <stddef.h>
#include <stdint.h>

#include "inet.h"

/* Query types we ask for. */
#define DNS_T_A		1
#define DNS_T_NS	2
#define DNS_T_CNAME	5
#define DNS_T_SOA	6
#define DNS_T_PTR	12
#define DNS_T_MX	15
#define DNS_T_TXT	16
#define DNS_T_AAAA	28
#define DNS_T_SPF	99

#define DNS_NAME_MAX	255	/* presentation form, without final dot */
#define DNS_RR_MAX	256	/* records kept per answer; more is an error */
#define DNS_CNAME_MAX	16	/* CNAME chain links followed in one answer */
#define DNS_TXT_MAX	65535	/* bytes of one TXT record */

/*
 * The outcomes are kept apart because the engines need them apart:
 * SPF maps NXDOMAIN/NODATA to "void lookup" and SERVFAIL/TIMEOUT to
 * temperror; DKIM tells a missing key from a broken one.
 */
enum dns_status {
	DNS_OK,		/* one or more records of the asked type */
	DNS_NXDOMAIN,	/* the name does not exist */
	DNS_NODATA,	/* the name exists, no record of that type */
	DNS_SERVFAIL,	/* server failure (also REFUSED, NOTIMP) */
	DNS_TIMEOUT,	/* no answer in time */
	DNS_ERROR,	/* malformed answer, bad name, local failure */
};

struct dns_rr {
	uint16_t type;
	uint32_t ttl;
	struct ipaddr addr;	/* A, AAAA */
	uint16_t pref;		/* MX preference */
	char *name;		/* MX exchange, PTR, CNAME target (no final dot) */
	char *txt;		/* TXT: character-strings concatenated, NUL added */
	size_t txt_len;		/* TXT: bytes (may contain NUL bytes) */
	unsigned txt_count;	/* TXT: number of character-strings */
};

/* An answer is shared (cache, many checks) and read-only once built. */
struct dns_answer {
	enum dns_status status;
	int rcode;		/* as received, for logging */
	uint32_t ttl;		/* min TTL of the records, or negative TTL */
	size_t n;
	struct dns_rr *rr;
	char *canon;		/* final name after CNAMEs, or NULL */
	int refs;
};

struct dns_answer *dnsmsg_parse(const unsigned char *msg, size_t len,
    const char *qname, uint16_t qtype);
struct dns_answer *dns_answer_new(enum dns_status status);
struct dns_answer *dns_answer_ref(struct dns_answer *a);
void dns_answer_unref(struct dns_answer **ap);

const char *dns_status_name(enum dns_status s);
const char *dns_type_name(uint16_t type);
int dns_type_parse(const char *s, uint16_t *type_r);
int dns_name_equal(const char *a, const char *b);

#endif
