/*
 * listen.h - listener addresses as Postfix and libmilter write them.
 *
 * Public: listen_parse, listen_open, listen_describe.
 * Forms: inet:HOST:PORT, inet:[V6ADDR]:PORT, inet:PORT@HOST (libmilter),
 *        inet6:..., unix:PATH, local:PATH.
 * Trust: admin config.
 * Errors: -1 with *err_r (a static message or one in the caller's buffer).
 */
#ifndef POSTERN_LISTEN_H
#define POSTERN_LISTEN_H

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

struct listen_addr {
	struct sockaddr_storage ss;
	socklen_t len;
	int is_unix;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char desc[320];
};

int listen_parse(const char *spec, struct listen_addr *la, const char **err_r);
int listen_open(const struct listen_addr *la, int backlog, int unix_mode,
    gid_t unix_gid, const char **err_r);

#endif
