/*
 * spfpolicy.h - the SPF policy engine behind postern-spfd: what
 *               pypolicyd-spf decides, from SMTP facts and SPF results.
 *
 * Public: SPFPOLICY_CFG_DEFS, spfpolicy_new, spfpolicy_free,
 *         spfpolicy_txn_new, spfpolicy_txn_next, spfpolicy_txn_supply,
 *         spfpolicy_txn_verdict, spfpolicy_txn_free.
 * Trust: facts are peer data relayed by Postfix (client address, HELO,
 *        sender, instance); SPF outcomes come from the SPF engines.
 * Errors: spfpolicy_new returns NULL with *err_r for a bad list or CIDR.
 *
 * A transaction asks for SPF checks one at a time (Domain_Whitelist
 * domains, then HELO, then MAIL FROM) through spfpolicy_txn_next(); the
 * adapter runs each with whatever engine and I/O model it has, supplies
 * the outcome, and reads the verdict when no check is left.  Results are
 * remembered per message (the "instance" attribute): the header is
 * prepended once per message however many recipients it has, and a
 * rejection is repeated for every recipient.  HELO results are remembered
 * per client address and HELO name for helo_cache_time, so HELO is
 * checked once per SMTP session.
 */
#ifndef POSTERN_SPFPOLICY_H
#define POSTERN_SPFPOLICY_H

#include "cfg.h"
#include "spf.h"
#include "spfengine.h"
#include "verdict.h"

#define SPFPOLICY_CFG_DEFS \
	{ "HELO_reject", NULL, CFG_ENUM, "Fail", 0, 0, \
	  "Fail|SPF_Not_Pass|Softfail|Null|False|No_Check", \
	  "when a HELO result rejects the mail (pypolicyd-spf semantics)" }, \
	{ "Mail_From_reject", NULL, CFG_ENUM, "Fail", 0, 0, \
	  "Fail|SPF_Not_Pass|Softfail|Null|False|No_Check", \
	  "when a MAIL FROM result rejects the mail" }, \
	{ "PermError_reject", NULL, CFG_BOOL, "no", 0, 0, NULL, \
	  "reject on permerror" }, \
	{ "TempError_Defer", NULL, CFG_BOOL, "no", 0, 0, NULL, \
	  "defer (4xx) on temperror" }, \
	{ "skip_addresses", NULL, CFG_LIST, \
	  "127.0.0.0/8,::ffff:127.0.0.0/104,::1", 0, 0, NULL, \
	  "client networks never checked (no header)" }, \
	{ "Whitelist", NULL, CFG_LIST, NULL, 0, 0, NULL, \
	  "client networks (CIDR) exempt from checks, noted in X-Comment" }, \
	{ "HELO_Whitelist", NULL, CFG_LIST, NULL, 0, 0, NULL, \
	  "HELO names exempt from checks (when they resolve to the client)" }, \
	{ "Domain_Whitelist", NULL, CFG_LIST, NULL, 0, 0, NULL, \
	  "domains whose SPF-authorized hosts are exempt (forwarders)" }, \
	{ "Reject_Not_Pass_Domains", NULL, CFG_LIST, NULL, 0, 0, NULL, \
	  "sender domains rejected unless the result is pass" }, \
	{ "Header_Type", NULL, CFG_ENUM, "SPF", 0, 0, "SPF|AR|None", \
	  "Received-SPF (RFC 7208), Authentication-Results (RFC 8601), none" }, \
	{ "authserv_id", "Authserv_Id", CFG_STR, NULL, 0, 0, NULL, \
	  "authserv-id of Authentication-Results (default: host name)" }, \
	{ "Hide_Receiver", NULL, CFG_BOOL, "no", 0, 0, NULL, \
	  "leave our host name out of headers" }, \
	{ "TestOnly", NULL, CFG_INT, "1", 0, 1, NULL, \
	  "pypolicyd-spf's switch: 0 = test mode (log, never reject)" }, \
	{ "SPF_Enhanced_Status_Codes", NULL, CFG_BOOL, "yes", 0, 0, NULL, \
	  "RFC 7372 codes (5.7.23, 5.7.24) instead of 5.7.1" }, \
	{ "skip_sasl_authenticated", NULL, CFG_BOOL, "yes", 0, 0, NULL, \
	  "do not check clients that authenticated with SASL" }, \
	{ "helo_cache_time", NULL, CFG_TIME, "10m", 0, 86400000LL, NULL, \
	  "how long a HELO result is reused for the same client" }, \
	{ "instance_cache_size", NULL, CFG_INT, "20000", 16, 10000000, \
	  NULL, "messages remembered for once-per-message headers" }, \
	{ "HELO_pass_restriction", NULL, CFG_LEGACY, NULL, 0, 0, NULL, \
	  "pypolicyd-spf restriction class: not supported, ignored" }, \
	{ "Mail_From_pass_restriction", NULL, CFG_LEGACY, NULL, 0, 0, NULL, \
	  "pypolicyd-spf restriction class: not supported, ignored" }, \
	{ "Domain_Whitelist_PTR", NULL, CFG_LEGACY, NULL, 0, 0, NULL, \
	  "pypolicyd-spf PTR whitelist: not supported, ignored" }, \
	{ "Prospective", NULL, CFG_LEGACY, NULL, 0, 0, NULL, \
	  "pypolicyd-spf outbound check: not supported, ignored" }, \
	{ "No_Mail", NULL, CFG_LEGACY, NULL, 0, 0, NULL, \
	  "pypolicyd-spf key: not supported, ignored" }, \
	{ "Whitelist_Lookup_Time", NULL, CFG_LEGACY, NULL, 0, 0, NULL, \
	  "pypolicyd-spf key: whitelist checks share spf_time_limit" }, \
	{ "Mock", NULL, CFG_LEGACY, NULL, 0, 0, NULL, \
	  "pypolicyd-spf test key: ignored" }, \
	{ "Reason_Message", NULL, CFG_LEGACY, NULL, 0, 0, NULL, \
	  "pypolicyd-spf key: the reason text is fixed, ignored" }, \
	{ "defaultSeedOnly", NULL, CFG_LEGACY, NULL, 0, 0, NULL, \
	  "old name of pypolicyd-spf TestOnly: set TestOnly instead" }, \
	{ "QueueID", NULL, CFG_LEGACY, NULL, 0, 0, NULL, \
	  "pypolicyd-spf key: the queue id is always logged, ignored" }

/* the facts of one policy request (pointers stay the caller's) */
struct spfpolicy_facts {
	const char *client_address;
	const char *helo;
	const char *sender;
	const char *recipient;
	const char *sasl_username;
	const char *instance;
	const char *queue_id;
};

struct spfpolicy;
struct spfpolicy_txn;

struct spfpolicy *spfpolicy_new(const struct cfg *cfg,
    struct spf_engine *engine, const char **err_r);
void spfpolicy_free(struct spfpolicy **pp);
int spfpolicy_check_config(const struct cfg *cfg, const char **err_r);

struct spfpolicy_txn *spfpolicy_txn_new(struct spfpolicy *p,
    const struct spfpolicy_facts *f);
int spfpolicy_txn_next(struct spfpolicy_txn *t, struct spf_request *req_r);
void spfpolicy_txn_supply(struct spfpolicy_txn *t,
    const struct spf_outcome *o);
void spfpolicy_txn_verdict(struct spfpolicy_txn *t, struct verdict *v);
const char *spfpolicy_txn_result(const struct spfpolicy_txn *t);
void spfpolicy_txn_free(struct spfpolicy_txn **tp);

#endif
