/*
 * log.h - logging to syslog (facility mail) or to stderr in the foreground.
 *
 * Public: log_open, log_set_level, log_debug, log_info, log_warn,
 *         log_error, log_fatal, log_panic, log_sanitize.
 * Trust: messages may embed peer strings; callers pass them through
 *        log_sanitize (cut to LOG_PEER_MAX bytes, non-printables masked).
 * Errors: log_fatal exits 1 (startup and config problems only);
 *         log_panic aborts (our own bug or out of memory).
 * Thread-safe: yes (syslog and one fprintf per line).
 */
#ifndef POSTERN_LOG_H
#define POSTERN_LOG_H

#include <stddef.h>

enum log_level { LOG_L_DEBUG, LOG_L_INFO, LOG_L_WARN, LOG_L_ERROR };

#define LOG_PEER_MAX 100	/* bytes of a peer string kept in a log line */
#define LOG_SAN_SIZE (LOG_PEER_MAX * 4 + 8)	/* worst case after masking */

void log_open(const char *ident, int to_stderr);
void log_set_level(enum log_level level);
void log_buffer_stderr(void);
void log_flush(void);
int log_level_parse(const char *s, enum log_level *level_r);

void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_fatal(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));
void log_panic(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));

/* log_sanitize - copy a peer string for logging into out[LOG_SAN_SIZE] */
const char *log_sanitize(char *out, const char *s, size_t len);

#endif
