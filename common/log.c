/*
 * log.c - logging; see log.h.
 *
 * In the foreground every line goes to stderr prefixed with the program
 * name and pid, as syslog would show it, so what an admin sees with -f is
 * what lands in mail.log.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <unistd.h>

#include "log.h"

static const char *log_ident = "postern";
static int log_stderr = 1;
static enum log_level log_min = LOG_L_INFO;
static int log_journal;		/* stderr is the systemd journal */

/* log_open - choose the destination; ident must outlive the process */
void log_open(const char *ident, int to_stderr)
{
	log_ident = ident;
	log_stderr = to_stderr;
	/* under systemd, stderr lines carry "<N>" priorities and no
	 * ident/pid prefix: the journal adds those itself */
	log_journal = to_stderr && getenv("JOURNAL_STREAM") != NULL;
	if (!to_stderr)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

/* log_buffer_stderr - batch stderr lines (a write per line costs a
 * system call per decision); the caller flushes with log_flush() at
 * least every 100 ms.  Fatal and panic messages flush at once. */
void log_buffer_stderr(void)
{
	static char sbuf[65536];

	if (log_stderr)
		setvbuf(stderr, sbuf, _IOFBF, sizeof(sbuf));
}

/* log_flush - write out buffered stderr lines */
void log_flush(void)
{
	if (log_stderr)
		fflush(stderr);
}

/* log_set_level - drop messages below level */
void log_set_level(enum log_level level)
{
	log_min = level;
}

/* log_level_parse - "debug", "info", "warn", "error" */
int log_level_parse(const char *s, enum log_level *level_r)
{
	static const char *names[] = { "debug", "info", "warn", "error" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcasecmp(s, names[i]) == 0) {
			*level_r = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

/* log_emit - one line to the chosen destination */
static void log_emit(int prio, const char *tag, const char *fmt, va_list ap)
{
	char line[2048];
	int n;

	n = vsnprintf(line, sizeof(line), fmt, ap);
	if (n < 0)
		return;
	/* an over-long line is cut visibly, never silently */
	if ((size_t)n >= sizeof(line))
		memcpy(line + sizeof(line) - 5, "...", 4);
	if (log_journal)
		fprintf(stderr, "<%d>%s%s\n", prio, tag, line);
	else if (log_stderr)
		fprintf(stderr, "%s[%ld]: %s%s\n", log_ident, (long)getpid(),
		    tag, line);
	else
		syslog(prio, "%s%s", tag, line);
}

#define LOG_FN(name, level, prio, tag) \
void name(const char *fmt, ...) \
{ \
	va_list ap; \
	if (level < log_min) \
		return; \
	va_start(ap, fmt); \
	log_emit(prio, tag, fmt, ap); \
	va_end(ap); \
}

LOG_FN(log_debug, LOG_L_DEBUG, LOG_DEBUG, "debug: ")
LOG_FN(log_info, LOG_L_INFO, LOG_INFO, "")
LOG_FN(log_warn, LOG_L_WARN, LOG_WARNING, "warning: ")
LOG_FN(log_error, LOG_L_ERROR, LOG_ERR, "error: ")

/* log_fatal - startup/config error: log and exit 1 */
void log_fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(LOG_CRIT, "fatal: ", fmt, ap);
	va_end(ap);
	exit(1);
}

/* log_panic - our bug: log and abort for a core dump */
void log_panic(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(LOG_CRIT, "panic: ", fmt, ap);
	va_end(ap);
	log_flush();
	abort();
}

/* log_sanitize - cut to LOG_PEER_MAX bytes, mask non-printables as \xNN */
const char *log_sanitize(char *out, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0, i;

	if (s == NULL) {
		strcpy(out, "(none)");
		return out;
	}
	for (i = 0; i < len && i < LOG_PEER_MAX; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x20 && c < 0x7f && c != '\\') {
			out[o++] = (char)c;
		} else {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	if (i < len) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
	return out;
}
