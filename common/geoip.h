/*
 * geoip.h - country, continent and ASN of an IP address from MaxMind /
 *           DB-IP .mmdb files (libmaxminddb), and a policy table that
 *           maps them to actions or score weights.
 *
 * Public: geoip_open, geoip_free, geoip_lookup, geoip_decide,
 *         geoip_info_log, geoip_header_value, geoip_maybe_reload,
 *         geoip_policy_parse.
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
 *       asn:N | AS N      ACTION     (also "asn:unknown")
 *   ACTION is one of
 *       REJECT [text]   5.7.1 reject          DEFER [text]   4.7.1
 *       HOLD [text]     quarantine            WARN [text]    log only
 *       SCORE N         add N (may be negative) to the DNSBL score
 *       OK              allowlisted: no rejection by score or GeoIP
 *       DUNNO           no opinion (stops looking at wider keys)
 *   Lookup order asn, country, continent: SCORE entries of all three add
 *   up; the first other action in that order decides.
 *
 * Reload: geoip_maybe_reload (called by lookups, at most once per
 *   check_interval) re-opens a database or re-reads the policy whose
 *   file changed (inode, size, mtime); a file that fails to load keeps
 *   the old one and is logged once per change.  Lookups in flight keep
 *   the handle they started with (reference counted).
 * Trust: database files and the policy are the admin's (but a corrupt
 *   database must not crash: libmaxminddb's verifier is run at open);
 *   the address is peer data.
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
#define GEOIP_ORG_MAX		128

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
/* 0, with info filled ("" / 0 for what is unknown) */
int geoip_lookup(struct geoip *g, const struct ipaddr *ip,
    struct geoip_info *info);
void geoip_decide(struct geoip *g, const struct geoip_info *info,
    struct geoip_decision *d);
/* " geoip=DE/EU/AS3320" for the log line */
void geoip_info_log(const struct geoip_info *info, struct buf *out);
/* "country=DE; continent=EU; asn=3320 (Deutsche Telekom AG)" */
void geoip_header_value(const struct geoip_info *info, struct buf *out);
void geoip_maybe_reload(struct geoip *g);
/* parse a policy text (for -t, tests and the fuzzer); entries counted in
 * *n_r; -1 with *err_r naming the line */
int geoip_policy_parse(const char *text, size_t len, size_t *n_r,
    const char **err_r);

#endif
