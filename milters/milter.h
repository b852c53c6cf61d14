/*
 * milter.h - the milter core every postern milter shares (postern-dkim,
 *            later postern-dmarc and postern-checks): command line and
 *            config life cycle, the libmilter listener, per-connection
 *            facts, bounded header collection, verdict -> smfi_* mapping.
 *
 * Public: MILTER_CFG_DEFS, MILTER_RESTART_KEYS, milter_main,
 *         milter_cfg_* (list and file helpers, milter_cfg.c),
 *         milter_add_header, milter_conn_*(facts, see struct milter_conn),
 *         milter_metrics.
 *
 * Command line: as every postern daemon (common/daemon.h): -c FILE,
 *   -o key=value (repeatable), -f (foreground, log to stderr), -t (check
 *   the config, keys included, and exit), -p (print it), -V.
 *
 * Start: config loaded and checked, the daemon's context built (keys
 *   parsed once, here, as root), then the listener is bound with
 *   smfi_setconn + smfi_opensocket, then privileges are dropped (user,
 *   chroot), then smfi_main serves.
 *
 * Listener ("listen"): unix:PATH, local:PATH, inet:HOST:PORT,
 *   inet:[V6ADDR]:PORT and libmilter's inet:PORT@HOST (inet6: too).  A
 *   stale unix socket is replaced (never a file of another kind: that is
 *   an error); the socket gets unix_socket_mode (default 0660) and, when
 *   set, unix_socket_group.  The default place,
 *   /var/spool/postfix/postern/NAME.sock, is reachable from a chrooted
 *   Postfix as unix:postern/NAME.sock; the directory must exist (the
 *   systemd units create it setgid postfix, so the socket's group is
 *   postfix and 0660 lets Postfix in).
 *
 * TCP_NODELAY: Postfix waits for our reply to each milter command, and
 *   our end-of-message answer is several small writes (header changes,
 *   then the verdict).  With Nagle on, the second write waits for the
 *   ACK of the first, which the MTA's delayed-ACK timer holds back: a
 *   ~40 ms stall per message (measured: OpenDKIM on an inet socket is
 *   stuck at ~210 msg/s with the CPU idle, see DESIGN.md).  libmilter
 *   offers no hook at accept(), but on Linux an accepted TCP socket
 *   inherits TCP_NODELAY from its listening socket.  So after
 *   smfi_opensocket() the core finds libmilter's listening descriptor
 *   (a socket with SO_ACCEPTCONN whose getsockname() is the configured
 *   address) and sets TCP_NODELAY on it; start fails loudly if no such
 *   descriptor is found for an inet listener.
 *
 * Signals: libmilter's own thread owns SIGTERM, SIGINT and SIGHUP, and
 *   stops the milter on any of them (SIGTERM: stop accepting, sessions in
 *   flight finish, bounded by shutdown_timeout).  SIGHUP therefore
 *   STOPS a milter; reload is SIGUSR1 (as OpenDKIM): a new config
 *   snapshot and context are built and swapped in under a mutex; each
 *   connection holds a reference to the context it started with and
 *   moves to the new one at its next MAIL FROM, so messages in flight
 *   finish with the old one.  A reload with any error keeps the running
 *   config and logs why.
 *
 * Per message: the headers are kept (bounded by max_headers and
 *   max_header_bytes; over a limit the message gets
 *   "552 5.3.4 message header too large" at end of headers), each value
 *   exactly as in the message: with SMFIP_HDR_LEADSPC (Postfix offers
 *   it) the leading space is the sender's; without it one space is
 *   put back.  Line breaks inside values are CRLF.  The body is streamed
 *   to the daemon and not kept.
 *
 * Authentication-Results: when the daemon has an authserv-id, every
 *   inbound Authentication-Results header claiming it is removed at end
 *   of message (RFC 8601 section 5), before ours are added.
 *
 * Logging: one line per message, "QUEUEID: <daemon fields> action=...".
 *
 * Trust: the MTA is trusted to speak the protocol; everything it relays
 *   (client names, HELO, addresses, headers, body) is peer data: bounded,
 *   sanitized in logs and replies.
 * Threads: libmilter runs one thread per MTA connection; a struct
 *   milter_conn belongs to its thread.  Daemon contexts are shared,
 *   read-only, reference counted.
 * Errors: startup and config problems are fatal with a message; nothing
 *   a peer sends makes the daemon exit.
 */
#ifndef POSTERN_MILTER_H
#define POSTERN_MILTER_H

#include <stddef.h>

#include "buf.h"
#include "cfg.h"
#include "inet.h"
#include "metrics.h"
#include "verdict.h"

#define MILTER_RCPTS_MAX	1000	/* recipients kept per message */
#define MILTER_PEER_MAX		512	/* bytes kept of a peer string */
#define MILTER_ADDED_MAX	32	/* headers a message may get */
#define MILTER_ADDED_BYTES	65536	/* their total size */

#define MILTER_CFG_DEFS(default_listen) \
	{ "listen", "Socket", CFG_STR, default_listen, 0, 0, NULL, \
	  "milter socket: unix:PATH, inet:HOST:PORT or inet:PORT@HOST" }, \
	{ "unix_socket_mode", NULL, CFG_STR, "0660", 0, 0, NULL, \
	  "permissions of a unix: listener (octal)" }, \
	{ "unix_socket_group", NULL, CFG_STR, NULL, 0, 0, NULL, \
	  "group of a unix: listener (default: the directory's, see " \
	  "the systemd unit)" }, \
	{ "milter_timeout", NULL, CFG_TIME, "7210s", 1000, 86400000LL, NULL, \
	  "close an MTA connection silent this long (libmilter's timeout)" }, \
	{ "milter_backlog", NULL, CFG_INT, "128", 1, 65535, NULL, \
	  "listen() backlog of the milter socket" }, \
	{ "max_headers", NULL, CFG_INT, "1000", 10, 100000, NULL, \
	  "header fields per message (more: 552 5.3.4)" }, \
	{ "max_header_bytes", "MaximumHeaders", CFG_INT, "262144", 1024, \
	  67108864, NULL, "total bytes of a message's header fields (more: " \
	  "552 5.3.4); also bounds one field" }

#define MILTER_RESTART_KEYS "listen", "unix_socket_mode", \
	"unix_socket_group", "milter_timeout", "milter_backlog"

/* one header field as received */
struct milter_hdr {
	char *name;
	char *value;		/* leading space kept, folds as CRLF */
	size_t vlen;
};

/*
 * What the daemon sees of a connection and its current message.  All
 * strings are NUL-terminated, cut to MILTER_PEER_MAX, never NULL ("" when
 * unknown); they are peer data (sanitize before logging).
 */
struct milter_conn {
	/* connection */
	char client_addr[IP_STR_MAX];	/* text, or "unknown" */
	struct ipaddr ip;		/* valid when has_ip */
	int has_ip;
	char *client_name;		/* xxfi_connect hostname */
	char *helo;
	char *macro_j;			/* j: the MTA's host name */
	char *daemon_name;		/* {daemon_name} */
	/* message */
	char *queue_id;			/* i, sanitized; "NOQUEUE" until known */
	char *mail_from;
	char *auth_authen;		/* {auth_authen}: SASL login or "" */
	char *auth_type;		/* {auth_type} */
	char **rcpts;
	size_t nrcpts;			/* kept, at most MILTER_RCPTS_MAX */
	size_t nrcpts_seen;		/* all, counted */
	struct milter_hdr *hdrs;
	size_t nhdrs;
	size_t hdr_bytes;
	void *msg_data;			/* the daemon's per-message state */
	struct milter_conn_priv *priv;	/* the core's */
};

/*
 * A milter daemon.  The context (ctx) is everything one config snapshot
 * builds (keys, tables, resolver); it is shared by all threads and must
 * be read-only once built.
 */
#define MILTER_SKIP_HELO	0x1	/* milter_desc.skip_steps */
#define MILTER_SKIP_RCPT	0x2

#define MILTER_ACT_RCPT		0x1	/* milter_desc.actions: add/del rcpt */
#define MILTER_ACT_BODY		0x2	/* replace the body */

struct milter_desc {
	const char *name;		/* "postern-dkim" */
	const struct cfg_def *defs;	/* with MILTER_CFG_DEFS, DAEMON_... */
	/* validate without side effects (cheap; ctx_new does the rest) */
	int (*check)(const struct cfg *cfg, const char **err_r);
	const char *const *restart_keys;	/* besides the core's */
	/* once at start, before the context: register metrics; optional */
	int (*init)(struct metrics *m, const char **err_r);
	/* build the context of cfg; prev is the running one (NULL at
	 * start), for what can be kept (DNS cache); NULL with *err_r */
	void *(*ctx_new)(const struct cfg *cfg, void *prev,
	    const char **err_r);
	void (*ctx_free)(void *ctx);
	/* authserv-id whose inbound Authentication-Results are removed;
	 * "" or NULL: none removed */
	const char *(*authserv_id)(void *ctx);
	/*
	 * End of headers: c->hdrs complete.  Leave v->disp CONTINUE to get
	 * the body and eom; ACCEPT: nothing to do for this message (no
	 * body is sent, no eom call); REJECT/TEMPFAIL/DISCARD end it.
	 */
	void (*eoh)(struct milter_conn *c, void *ctx, struct verdict *v);
	void (*body)(struct milter_conn *c, void *ctx, const void *p,
	    size_t n);
	/* end of message: fill v (disposition, reply, headers, log) */
	void (*eom)(struct milter_conn *c, void *ctx, struct verdict *v);
	/* free c->msg_data (after eom, on abort, at close) */
	void (*msg_free)(struct milter_conn *c, void *ctx);
	/*
	 * Steps the daemon never reads (MILTER_SKIP_HELO|MILTER_SKIP_RCPT):
	 * asked off at negotiation when the MTA offers it, so each message
	 * costs fewer packets, reads and thread wake-ups on both sides
	 * (c->helo, c->rcpts then stay empty).
	 */
	unsigned long skip_steps;
	/*
	 * Optional: non-zero when the context never reads the body (then
	 * the MTA is asked not to send it; eom still comes).  Asked once
	 * per MTA connection, with the context of that moment.
	 */
	int (*skip_body)(void *ctx);
	/* MILTER_ACT_*: edits beyond headers the daemon may make */
	unsigned long actions;
	/*
	 * Optional extra service in the same process (postern-checks'
	 * policy listener): start is called as root after the milter
	 * socket is bound, with the first context (bind here; -1 with
	 * *err_r is fatal); run after privileges are dropped (start
	 * threads); stop at shutdown, before the context is freed.
	 */
	int (*start)(void *ctx, const struct cfg *cfg, const char **err_r);
	void (*run)(void);
	void (*stop)(void);
};

int milter_main(int argc, char **argv, const struct milter_desc *desc);

/* ------------------------------------------ config helpers (milter_cfg.c) */

#define MILTER_TABLE_MAX (4 * 1024 * 1024)	/* bytes of a list file */

typedef int milter_line_fn(void *arg, char *line, const char *path,
    int lineno, const char **err_r);
int milter_cfg_lines(const char *path, milter_line_fn *fn, void *arg,
    const char **err_r);
int milter_cfg_netlist(const struct cfg *cfg, const char *key,
    struct cidrlist *l, const char **err_r);

/* a list of domains: "example.com" (itself), "*.example.com" (below it),
 * ".example.com" (both) */
struct milter_domains {
	char **v;
	size_t n;
};
int milter_cfg_domains(const struct cfg *cfg, const char *key,
    struct milter_domains *d, const char **err_r);
int milter_cfg_domain_match(const struct milter_domains *d,
    const char *name);
void milter_domains_free(struct milter_domains *d);

/*
 * milter_add_header - have a header prepended at end of message (on top,
 * before Postfix's own Received:).  Folds as CRLF or LF + WSP.  A value
 * starting with white space (or a fold) is the raw text after the colon
 * and arrives
 * byte for byte (a DKIM-Signature signed with "simple" needs that);
 * otherwise one space is put after the colon.  A one-line value longer
 * than 78 bytes is folded after each "; " outside quotes and comments.
 * Headers added in this order appear in this order, above the verdict's
 * prepended ones.  -1 over MILTER_ADDED_MAX/BYTES.
 */
int milter_add_header(struct milter_conn *c, const char *name,
    const char *value);
/*
 * Edits of the message, queued during eom and applied by the core at end
 * of message in the order queued, before headers are added (and only
 * when the verdict keeps the message).  Values are the raw text after
 * the colon (not folded; CRLF or LF line breaks).
 *   milter_chg_header   the occurrence-th (from 1) field called name:
 *                       new value, or removed with value NULL
 *   milter_ins_header   a field inserted at index (0 = top; Postfix
 *                       counts its own Received: header, see DESIGN.md)
 *   milter_add_rcpt     a recipient ("<user@domain>"), with NOTIFY=NEVER
 *                       when notify_never and the MTA allows parameters
 *   milter_del_rcpt     a recipient as the MTA gave it
 *   milter_replace_body the whole new body (CRLF lines); takes body
 * -1 over MILTER_EDITS_MAX / MILTER_EDITS_BYTES or without the action
 * (milter_desc.actions).
 */
#define MILTER_EDITS_MAX	1000
#define MILTER_EDITS_BYTES	(1024 * 1024)
int milter_chg_header(struct milter_conn *c, const char *name,
    int occurrence, const char *value);
int milter_ins_header(struct milter_conn *c, int index, const char *name,
    const char *value);
int milter_add_rcpt(struct milter_conn *c, const char *rcpt,
    int notify_never);
int milter_del_rcpt(struct milter_conn *c, const char *rcpt);
int milter_replace_body(struct milter_conn *c, struct buf *body);
/*
 * milter_ctx_get - a reference to the current context for code outside
 * the MTA connections (the extra service); release with milter_ctx_put
 */
void *milter_ctx_get(void **ref_r);
void milter_ctx_put(void **ref_r);

/* milter_bare_sender - c->mail_from without its <> into out (cut to
 * fit): "a@b", "" for the null sender */
void milter_bare_sender(const char *mail_from, char *out, size_t size);

/* milter_cfg - the config snapshot of the connection's context */
const struct cfg *milter_cfg(const struct milter_conn *c);
/* milter_metrics - the process's metrics (counters are thread-safe) */
struct metrics *milter_metrics(void);

#endif
