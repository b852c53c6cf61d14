/*
 * greywl.h - postgrey's whitelist files, read as they are: Debian's
 *            /etc/postgrey/whitelist_clients and whitelist_recipients.
 *
 * Public: greywl_new, greywl_free, greywl_load, greywl_match_client,
 *         greywl_match_recipient, greywl_count.
 * Formats (postgrey 1.37):
 *   clients:    host or domain name (matches the name and its
 *               subdomains), /regex/ (Perl syntax, case-insensitive, on
 *               the client name), IPv4 address or CIDR, partial IPv4
 *               "a.b.c" (/24) or "a.b" (/16), IPv6 address or CIDR;
 *   recipients: user@domain (also user+ext@domain), user@ (any domain),
 *               domain (the domain and its subdomains), /regex/.
 *   "#" starts a comment; blank lines are ignored.
 * Trust: admin files, but matched against peer data (client names,
 *        recipients): regexes run under a match limit, so a pathological
 *        pattern cannot hang a request.
 * Errors: a line that fits no format is skipped with a warning line in
 *         *warnings (as postgrey does); -1 only when the file cannot be
 *         read or is absurdly large.
 */
#ifndef POSTERN_GREYWL_H
#define POSTERN_GREYWL_H

#include <stddef.h>

#include "buf.h"
#include "inet.h"

enum greywl_kind { GREYWL_CLIENTS, GREYWL_RECIPIENTS };

struct greywl;

struct greywl *greywl_new(enum greywl_kind kind);
void greywl_free(struct greywl **wp);
int greywl_load_text(struct greywl *w, const char *text, size_t len,
    const char *origin, struct buf *warnings);
int greywl_load_file(struct greywl *w, const char *path,
    struct buf *warnings, const char **err_r);
size_t greywl_count(const struct greywl *w);
int greywl_match_client(const struct greywl *w, const char *client_name,
    const struct ipaddr *ip);
int greywl_match_recipient(const struct greywl *w, const char *recipient);

#endif
