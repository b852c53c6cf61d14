/* store_redis.c - placeholder while the Redis back end is written */
#include "store.h"

struct store *store_redis_open(const char *spec, const struct store_opts *o,
    const char **err_r)
{
	(void)spec;
	(void)o;
	*err_r = "store: Redis back end not available yet";
	return NULL;
}
