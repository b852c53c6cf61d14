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
	struct lru *l = lru_new(3, 0, count_free);

	lru_put(l, "a", xstrdup("1"), 100, 0);
	lru_put(l, "b", xstrdup("2"), 100, 0);
	lru_put(l, "c", xstrdup("3"), 100, 0);
	is_str(lru_get(l, "a", 10), "1", "get a (now most recent)");
	lru_put(l, "d", xstrdup("4"), 100, 0);
	is_int(lru_count(l), 3, "bounded to 3");
	ok(lru_get(l, "b", 10) == NULL, "least recent (b) evicted");
	is_str(lru_get(l, "a", 10), "1", "a kept");
	ok(lru_get(l, "c", 100) == NULL, "expired entry gone");
	lru_put(l, "a", xstrdup("5"), 100, 0);
	is_str(lru_get(l, "a", 10), "5", "replace");
	lru_free(&l);
	is_int(freed, 5, "every value freed once");

	l = lru_new(100, 10, count_free);
	lru_put(l, "x", xstrdup("1"), 100, 4);
	lru_put(l, "y", xstrdup("2"), 100, 4);
	lru_put(l, "z", xstrdup("3"), 100, 4);
	is_int(lru_count(l), 2, "cost bound: oldest dropped");
	ok(lru_get(l, "x", 10) == NULL, "x went first");
	lru_put(l, "big", xstrdup("4"), 100, 11);
	ok(lru_get(l, "big", 10) == NULL, "an entry over the bound is not kept");
	is_int(freed, 7, "and freed at once");
	lru_free(&l);
	return done_testing();
}
