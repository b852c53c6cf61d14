/*
 * lru_t.c - the bounded cache (common/lru.c): bound, expiry, recency.
 */
#include <stdlib.h>

#include "lru.h"
#include "tap.h"
#include "xalloc.h"

static int freed;

static void count_free(void *v)
{
	freed++;
	free(v);
}

int main(void)
{
	struct lru *l = lru_new(3, count_free);

	lru_put(l, "a", xstrdup("1"), 100);
	lru_put(l, "b", xstrdup("2"), 100);
	lru_put(l, "c", xstrdup("3"), 100);
	is_str(lru_get(l, "a", 10), "1", "get a (now most recent)");
	lru_put(l, "d", xstrdup("4"), 100);
	is_int(lru_count(l), 3, "bounded to 3");
	ok(lru_get(l, "b", 10) == NULL, "least recent (b) evicted");
	is_str(lru_get(l, "a", 10), "1", "a kept");
	ok(lru_get(l, "c", 100) == NULL, "expired entry gone");
	lru_put(l, "a", xstrdup("5"), 100);
	is_str(lru_get(l, "a", 10), "5", "replace");
	lru_free(&l);
	is_int(freed, 5, "every value freed once");
	return done_testing();
}
