/*
 * geoip.h - country, continent and ASN of an IP address from MaxMind /
 *           DB-IP .mmdb files (libmaxminddb), and a policy table that
 *           maps them to actions or score weights.
 *
 * Public: geoip_open, geoip_free, geoip_lookup, geoip_decide,
 *         geoip_info_log, geoip_header_value, geoip_maybe_reload,
 *         geoip_policy_parse, geoip_action_name.
 *
 * Databases: country_db is any database with country/continent data
 *   (GeoIP2/GeoLite2 Country or City, DB-IP country); asn_db any with
 *   autonomous_system_number/_organization (GeoLite2 ASN, GeoIP2 ISP).
 *   Either may be absent; the same file may serve both.  IPv4 addresses
 *   are looked up in IPv6 databases as ::a.b.c.d (libmaxminddb does it).
 *   The "registered_country" is used when "country" is missing.
 *
 * Policy table (one entry per line, '#' comments, blank lines ignored;
 *   keys case-insensitive):
 *       country:CC        ACTION     (ISO 3166 alpha-2, or "unknown")
 *       continent:CC      ACTION     (AF AN AS EU NA OC SA, or "unknown")
 *       asn:N | ASN       ACTION     (asn:3320, AS3320, asn:AS3320;
 *                                    also "asn:unknown")
 *   ACTION is one of
 *       REJECT [text]   5.7.1 reject          DEFER [text]   4.7.1
 *       HOLD [text]     quarantine            WARN [text]    log only
 *       SCORE N         add N (may be negative) to the DNSBL score
 *       OK              allowlisted: no rejection by score or GeoIP
 *       DUNNO           no opinion (stops looking at wider keys)
 *   Lookup order asn, country, continent: SCORE entries of all three add
 *   up; the first other action in that order decides.  Keys of a database
 *   that is not configured are not looked at (no country_db: no
 *   "country:unknown" match).  The text runs to the end of the line
 *   (printable ASCII, GEOIP_TEXT_MAX bytes); '#' starts a comment only
 *   at the start of a line.  A key given twice is an error.
 * Limits: GEOIP_POLICY_MAX entries, GEOIP_LINE_MAX bytes per line,
 *   GEOIP_POLICY_FILE_MAX bytes per file, |SCORE| <= GEOIP_SCORE_MAX.
 *
 * Reload: geoip_maybe_reload (called by lookups, at most once per
 *   check_interval) re-opens a database or re-reads the policy whose
 *   file changed (inode, size, mtime); a file that fails to load keeps
 *   the old one and is logged once per change.  Lookups in flight keep
 *   the handle they started with (reference counted).  Databases are
 *   mmap'ed: replace them by rename (as geoipupdate does), never by
 *   rewriting the file in place.
 * Trust: database files and the policy are the admin's, but a corrupt
 *   database must not crash: libmaxminddb (1.7) exports no verifier, so
 *   at open the metadata is checked, every search-tree node is read and
 *   its records range-checked, and the data records it points to are
 *   decoded (the first GEOIP_VERIFY_RECORDS distinct ones; the rest are
 *   range-checked only); the address is peer data.
 * Threads: lookups from any thread; reload is serialized inside.
 * Errors: geoip_open -1/NULL with *err_r when a configured file cannot
 *   be loaded at start (an admin error); policy lines that do not parse
 *   are errors too (a typo must not silently allow mail).
 */
#ifndef POSTERN_GEOIP_H
#define POSTERN_GEOIP_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "inet.h"

#define GEOIP_POLICY_MAX	100000		/* entries */
#define GEOIP_POLICY_FILE_MAX	(32 * 1024 * 1024)	/* bytes */
#define GEOIP_LINE_MAX		1024		/* bytes per policy line */
#define GEOIP_TEXT_MAX		255		/* bytes of REJECT ... text */
#define GEOIP_SCORE_MAX		1000000		/* |SCORE N| */
#define GEOIP_ORG_MAX		128		/* with the NUL */
#define GEOIP_VERIFY_RECORDS	200000		/* data records decoded at open */

struct geoip;

struct geoip_config {
	const char *country_db;		/* path or NULL */
	const char *asn_db;		/* path or NULL */
	const char *policy;		/* path or NULL */
	unsigned check_interval_ms;	/* file change checks; 0 = never */
};

struct geoip_info {
	char country[3];		/* "DE", "" when unknown */
	char continent[3];		/* "EU", "" when unknown */
	uint32_t asn;			/* 0 when unknown */
	char asn_org[GEOIP_ORG_MAX];	/* printable, "" when unknown */
};

enum geoip_action { GEOIP_DUNNO, GEOIP_OK, GEOIP_REJECT, GEOIP_DEFER,
	GEOIP_HOLD, GEOIP_WARN };

struct geoip_decision {
	enum geoip_action action;	/* the deciding entry's, or DUNNO */
	int score;			/* sum of SCORE entries */
	char key[32];			/* deciding entry: "country:CN" */
	char text[256];			/* its text, or "" */
};

struct geoip *geoip_open(const struct geoip_config *cfg, const char **err_r);
void geoip_free(struct geoip **gp);
/* 0, with info filled ("" / 0 for what is unknown); -1 when a database
 * read failed (corrupt data: what could be read is still filled in).
 * Calls geoip_maybe_reload first.  country/continent are two upper-case
 * ASCII letters or "", asn_org printable ASCII (other bytes, one per
 * UTF-8 sequence, become '?'), cut to GEOIP_ORG_MAX - 1 bytes. */
int geoip_lookup(struct geoip *g, const struct ipaddr *ip,
    struct geoip_info *info);
/* the policy's decision; DUNNO, score 0, key "" when no entry matched or
 * no policy is configured */
void geoip_decide(struct geoip *g, const struct geoip_info *info,
    struct geoip_decision *d);
/* " geoip=DE/EU/AS3320" for the log line; "-" for what is unknown */
void geoip_info_log(const struct geoip_info *info, struct buf *out);
/* "country=DE; continent=EU; asn=3320 (Deutsche Telekom AG)"; "unknown"
 * for what is unknown, "(org)" left out when empty; '(' ')' '\\' in the
 * org become '?'.  Both append nothing when out would pass its maximum. */
void geoip_header_value(const struct geoip_info *info, struct buf *out);
/* check the files if check_interval_ms has passed since the last check */
void geoip_maybe_reload(struct geoip *g);
/* "REJECT", "DEFER", "HOLD", "WARN", "OK", "DUNNO" (SCORE is no action) */
const char *geoip_action_name(enum geoip_action a);
/* parse a policy text (for -t, tests and the fuzzer); entries counted in
 * *n_r; -1 with *err_r naming the line */
int geoip_policy_parse(const char *text, size_t len, size_t *n_r,
    const char **err_r);

#endif
