/*
 * dmarc_report_cfg.h - the aggregate-report keys of postern-dmarc.conf:
 *                      read by postern-dmarc-report, checked by the
 *                      milter's table too (postern-dmarc -t), so one file
 *                      configures both.
 *
 * Public: DMARC_REPORT_CFG_DEFS (entries for a struct cfg_def table).
 * Trust: the config file is the admin's.
 * Errors: none here (cfg.c checks values against these definitions;
 *         postern-dmarc-report checks the addresses and the transport).
 *
 * OpenDMARC's aggregate reports come from opendmarc-reports(8), a script
 * with command-line options, not opendmarc.conf keys; the keys here take
 * its option names where they mean the same (report-email, report-org,
 * nodomain: '-' and '_' are one in key names).  Its --smtp-host and
 * --smtp-port are report_transport = smtp:HOST:PORT; its --day is
 * report_interval_min = 24h.
 */
#ifndef POSTERN_DMARC_REPORT_CFG_H
#define POSTERN_DMARC_REPORT_CFG_H

#include "cfg.h"

#define DMARC_REPORT_CFG_DEFS \
	{ "report_org_name", "report_org", CFG_STR, NULL, 0, 0, NULL, \
	  "aggregate reports: <org_name>, the organization sending them " \
	  "(default: report_org_domain)" }, \
	{ "report_org_domain", NULL, CFG_STR, NULL, 0, 0, NULL, \
	  "aggregate reports: our domain in the report file name, the " \
	  "Subject and Report-IDs (default: the domain of report_email)" }, \
	{ "report_email", NULL, CFG_STR, NULL, 0, 0, NULL, \
	  "aggregate reports: From and envelope sender of reports, and " \
	  "<email> in them (default: postmaster@ the host name)" }, \
	{ "report_extra_contact", NULL, CFG_STR, NULL, 0, 0, NULL, \
	  "aggregate reports: <extra_contact_info> (a URL, a phone " \
	  "number...; empty: none)" }, \
	{ "report_id_prefix", NULL, CFG_STR, NULL, 0, 0, NULL, \
	  "aggregate reports: text before each Report-ID (letters, " \
	  "digits, . _ -), e.g. a host name when several hosts report" }, \
	{ "report_transport", NULL, CFG_STR, "smtp:127.0.0.1:25", 0, 0, \
	  NULL, "aggregate reports: smtp:HOST[:PORT] (an MTA that relays " \
	  "them) or sendmail:/usr/sbin/sendmail" }, \
	{ "report_helo", NULL, CFG_STR, NULL, 0, 0, NULL, \
	  "aggregate reports: our EHLO name for smtp: (default: the host " \
	  "name)" }, \
	{ "report_timeout", NULL, CFG_TIME, "60s", 100, 600000, NULL, \
	  "aggregate reports: longest wait for the SMTP server (each " \
	  "connect, reply and write) or for sendmail to finish" }, \
	{ "report_bcc", NULL, CFG_STR, NULL, 0, 0, NULL, \
	  "aggregate reports: also send a copy of every report to this " \
	  "address (empty: none)" }, \
	{ "report_max_rows", NULL, CFG_INT, "50000", 1, 10000000, NULL, \
	  "aggregate reports: records in one report; more are split into " \
	  "several reports for the same period" }, \
	{ "report_max_xml_bytes", NULL, CFG_INT, "20000000", 10000, \
	  1000000000, NULL, "aggregate reports: XML bytes of one report " \
	  "(before compression); more are split like report_max_rows" }, \
	{ "report_max_period_rows", NULL, CFG_INT, "1000000", 1, \
	  100000000, NULL, "aggregate reports: distinct rows merged for one " \
	  "domain and period; rows beyond it are counted in the log and " \
	  "left out" }, \
	{ "report_interval_min", NULL, CFG_TIME, "1h", 3600000, 86400000, \
	  NULL, "aggregate reports: shortest reporting period, whatever " \
	  "a domain's ri= asks (24h: daily reports only, as " \
	  "opendmarc-reports --day)" }, \
	{ "report_interval_max", NULL, CFG_TIME, "24h", 3600000, 86400000, \
	  NULL, "aggregate reports: longest reporting period (the default " \
	  "ri= is 24h)" }, \
	{ "report_delay", NULL, CFG_TIME, "5m", 0, 86400000, NULL, \
	  "aggregate reports: wait this long after a period ends before " \
	  "reporting it (counters still being flushed)" }, \
	{ "report_max_age", NULL, CFG_TIME, "7d", 3600000, \
	  365LL * 86400000LL, NULL, "aggregate reports: data of a period " \
	  "that could not be sent for this long after its end is dropped " \
	  "(logged)" }, \
	{ "report_skip_domains", "nodomain", CFG_LIST, NULL, 0, 0, NULL, \
	  "aggregate reports: policy domains never reported (their data " \
	  "is dropped once its period ends)" }

#endif
