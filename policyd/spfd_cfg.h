/*
 * spfd_cfg.h - postern-spfd's configuration table (see spfd_cfg.c).
 */
#ifndef POSTERN_SPFD_CFG_H
#define POSTERN_SPFD_CFG_H

#include "cfg.h"

extern const struct cfg_def spfd_defs[];

#endif
