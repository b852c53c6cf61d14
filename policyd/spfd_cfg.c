/*
 * spfd_cfg.c - the configuration table of postern-spfd, shared with
 *              postern-spfquery so both read the same file.
 *
 * Public: spfd_defs.  Trust: admin config.  Errors: see cfg.h.
 */
#include "daemon.h"
#include "policy_cfg.h"
#include "dnscfg.h"
#include "spfd_cfg.h"
#include "spfengine.h"
#include "spfpolicy.h"

const struct cfg_def spfd_defs[] = {
	POLICY_CFG_DEFS("inet:127.0.0.1:10040"),
	DAEMON_CFG_DEFS,
	DNS_CFG_DEFS,
	SPF_ENGINE_CFG_DEFS,
	SPFPOLICY_CFG_DEFS,
	CFG_END
};
