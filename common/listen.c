/*
 * listen.c - listener parsing and binding; see listen.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "inet.h"
#include "listen.h"

static __thread char listen_err[256];

/* fail - format an error into the thread's buffer */
static int fail(const char **err_r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int fail(const char **err_r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(listen_err, sizeof(listen_err), fmt, ap);
	va_end(ap);
	*err_r = listen_err;
	return -1;
}

/* parse_port - 1..65535 */
static int parse_port(const char *s, unsigned *port_r)
{
	char *end;
	long p;

	if (*s == '\0')
		return -1;
	p = strtol(s, &end, 10);
	if (*end || p < 1 || p > 65535)
		return -1;
	*port_r = (unsigned)p;
	return 0;
}

/* listen_parse - text form into a socket address */
int listen_parse(const char *spec, struct listen_addr *la, const char **err_r)
{
	char host[256];
	const char *rest, *port;
	unsigned p;
	struct ipaddr ip;

	memset(la, 0, sizeof(*la));
	if (strncmp(spec, "unix:", 5) == 0 || strncmp(spec, "local:", 6) == 0) {
		struct sockaddr_un *sun = (struct sockaddr_un *)&la->ss;

		rest = strchr(spec, ':') + 1;
		if (*rest != '/' || strlen(rest) >= sizeof(sun->sun_path))
			return fail(err_r, "\"%s\": unix socket path must be "
			    "absolute and shorter than 108 bytes%s", spec, "");
		sun->sun_family = AF_UNIX;
		memcpy(sun->sun_path, rest, strlen(rest) + 1);
		memcpy(la->path, rest, strlen(rest) + 1);
		la->len = sizeof(*sun);
		la->is_unix = 1;
		snprintf(la->desc, sizeof(la->desc), "unix:%s", rest);
		return 0;
	}
	if (strncmp(spec, "inet:", 5) == 0)
		rest = spec + 5;
	else if (strncmp(spec, "inet6:", 6) == 0)
		rest = spec + 6;
	else
		return fail(err_r, "\"%s\": expected inet:HOST:PORT or "
		    "unix:PATH%s", spec, "");
	if (strchr(rest, '@')) {	/* libmilter: PORT@HOST */
		const char *at = strchr(rest, '@');

		if ((size_t)(at - rest) >= sizeof(host))
			return fail(err_r, "\"%s\": bad port%s", spec, "");
		memcpy(host, rest, (size_t)(at - rest));
		host[at - rest] = '\0';
		if (parse_port(host, &p) < 0)
			return fail(err_r, "\"%s\": bad port%s", spec, "");
		snprintf(host, sizeof(host), "%s", at + 1);
	} else if (*rest == '[') {
		const char *e = strchr(rest, ']');

		if (e == NULL || e[1] != ':' ||
		    (size_t)(e - rest - 1) >= sizeof(host))
			return fail(err_r, "\"%s\": expected [ADDR]:PORT%s",
			    spec, "");
		memcpy(host, rest + 1, (size_t)(e - rest - 1));
		host[e - rest - 1] = '\0';
		if (parse_port(e + 2, &p) < 0)
			return fail(err_r, "\"%s\": bad port%s", spec, "");
	} else {
		port = strrchr(rest, ':');
		if (port == NULL || (size_t)(port - rest) >= sizeof(host))
			return fail(err_r, "\"%s\": expected inet:HOST:PORT%s",
			    spec, "");
		memcpy(host, rest, (size_t)(port - rest));
		host[port - rest] = '\0';
		if (parse_port(port + 1, &p) < 0)
			return fail(err_r, "\"%s\": bad port%s", spec, "");
	}
	if (strcmp(host, "localhost") == 0)
		snprintf(host, sizeof(host), "127.0.0.1");
	if (*host == '\0' || strcmp(host, "*") == 0)
		snprintf(host, sizeof(host), "0.0.0.0");
	if (ip_parse(host, &ip) < 0)
		return fail(err_r, "\"%s\": host must be an IP address, "
		    "not \"%s\"", spec, host);
	if (ip.family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&la->ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)p);
		memcpy(&sin->sin_addr, ip.a, 4);
		la->len = sizeof(*sin);
		snprintf(la->desc, sizeof(la->desc), "inet:%s:%u", host, p);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&la->ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)p);
		memcpy(&sin6->sin6_addr, ip.a, 16);
		la->len = sizeof(*sin6);
		snprintf(la->desc, sizeof(la->desc), "inet:[%s]:%u", host, p);
	}
	return 0;
}

/* listen_open - bound, listening, non-blocking, close-on-exec socket */
int listen_open(const struct listen_addr *la, int backlog, int unix_mode,
    gid_t unix_gid, const char **err_r)
{
	int fd, on = 1;
	struct stat st;

	fd = socket(la->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (fd < 0)
		return fail(err_r, "%s: socket: %s", la->desc, strerror(errno));
	if (la->is_unix) {
		/* remove a stale socket, never any other kind of file */
		if (lstat(la->path, &st) == 0) {
			if (!S_ISSOCK(st.st_mode)) {
				close(fd);
				return fail(err_r, "%s: exists and is not a "
				    "socket%s", la->desc, "");
			}
			unlink(la->path);
		}
	} else {
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
		if (la->ss.ss_family == AF_INET6)
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on,
			    sizeof(on));
	}
	if (bind(fd, (const struct sockaddr *)&la->ss, la->len) < 0) {
		int e = errno;

		close(fd);
		return fail(err_r, "%s: bind: %s", la->desc, strerror(e));
	}
	if (la->is_unix && unix_gid != (gid_t)-1 &&
	    chown(la->path, (uid_t)-1, unix_gid) < 0) {
		int e = errno;

		close(fd);
		return fail(err_r, "%s: chown: %s", la->desc, strerror(e));
	}
	if (la->is_unix && chmod(la->path, (mode_t)unix_mode) < 0) {
		int e = errno;

		close(fd);
		return fail(err_r, "%s: chmod: %s", la->desc, strerror(e));
	}
	if (listen(fd, backlog) < 0) {
		int e = errno;

		close(fd);
		return fail(err_r, "%s: listen: %s", la->desc, strerror(e));
	}
	return fd;
}
