/*
 * lru.h - a bounded string-keyed cache with expiry (least recently used
 *         entries go first).  Not thread-safe: one owner (event loop).
 *
 * Public: lru_new, lru_free, lru_get, lru_put, lru_count.
 * Trust: keys may be peer data; the cache never grows past max entries
 *        nor past max_cost (the caller's measure, e.g. bytes), and keys
 *        are hashed with a secret (SipHash) so they cannot be aimed at
 *        one bucket.
 * Errors: none.
 */
#ifndef POSTERN_LRU_H
#define POSTERN_LRU_H

#include <stddef.h>
#include <time.h>

struct lru;

typedef void lru_free_fn(void *value);

struct lru *lru_new(size_t max, size_t max_cost, lru_free_fn *free_value);
void lru_free(struct lru **lp);
void *lru_get(struct lru *l, const char *key, time_t now);
void lru_put(struct lru *l, const char *key, void *value, time_t expires,
    size_t cost);
size_t lru_count(const struct lru *l);

#endif
