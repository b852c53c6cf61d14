/*
 * lru.c - bounded cache; see lru.h.
 */
#include <stdint.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "lru.h"
#include "xalloc.h"

struct lru_ent {
	void *value;
	time_t expires;
	size_t h;		/* bucket */
	size_t cost;
	struct lru_ent *hnext, *prev, *next;
	char key[];		/* allocated with the entry */
};

struct lru {
	struct lru_ent **b;
	size_t nb, n, max;
	size_t cost, max_cost;	/* sum of entry costs, and its bound */
	uint64_t key[2];	/* hash secret */
	struct lru_ent *head, *tail;
	lru_free_fn *free_value;
};

/* rotl - 64-bit rotate left */
static inline uint64_t rotl(uint64_t x, int b)
{
	return (x << b) | (x >> (64 - b));
}

#define SIPROUND \
	do { \
		v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32); \
		v2 += v3; v3 = rotl(v3, 16); v3 ^= v2; \
		v0 += v3; v3 = rotl(v3, 21); v3 ^= v0; \
		v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32); \
	} while (0)

/*
 * siphash - SipHash-2-4 of s with the cache's secret key, so peers who
 * choose the keys (DNS names, instance strings) cannot aim them all at
 * one bucket (J.-P. Aumasson, D. J. Bernstein, 2012).
 */
static uint64_t siphash(const uint64_t k[2], const char *s, size_t len)
{
	uint64_t v0 = 0x736f6d6570736575ULL ^ k[0];
	uint64_t v1 = 0x646f72616e646f6dULL ^ k[1];
	uint64_t v2 = 0x6c7967656e657261ULL ^ k[0];
	uint64_t v3 = 0x7465646279746573ULL ^ k[1];
	uint64_t m, b = (uint64_t)len << 56;
	size_t i;

	for (i = 0; i + 8 <= len; i += 8) {
		memcpy(&m, s + i, 8);	/* little-endian hosts (x86, arm) */
		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	for (size_t j = 0; i + j < len; j++)
		b |= (uint64_t)(unsigned char)s[i + j] << (8 * j);
	v3 ^= b;
	SIPROUND;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

/* hash - bucket of a key */
static size_t hash(const struct lru *l, const char *k)
{
	return (size_t)(siphash(l->key, k, strlen(k)) & (l->nb - 1));
}

/* lru_new - cache of at most max entries (and max_cost, 0: no bound) */
struct lru *lru_new(size_t max, size_t max_cost, lru_free_fn *free_value)
{
	struct lru *l = xcalloc(1, sizeof(*l));

	if (getrandom(l->key, sizeof(l->key), 0) != sizeof(l->key)) {
		struct timespec ts;	/* no entropy yet: still unique-ish */

		clock_gettime(CLOCK_REALTIME, &ts);
		l->key[0] = (uint64_t)ts.tv_nsec ^ (uint64_t)(uintptr_t)l;
		l->key[1] = (uint64_t)ts.tv_sec ^ (uint64_t)getpid();
	}
	l->max = max ? max : 1;
	l->max_cost = max_cost;
	l->nb = 64;
	while (l->nb < l->max && l->nb < (1u << 22))
		l->nb *= 2;
	l->b = xcalloc(l->nb, sizeof(*l->b));
	l->free_value = free_value;
	return l;
}

/* unlink_list - out of the recency list */
static void unlink_list(struct lru *l, struct lru_ent *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		l->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		l->tail = e->prev;
	e->prev = e->next = NULL;
}

/* push_front - most recent */
static void push_front(struct lru *l, struct lru_ent *e)
{
	e->next = l->head;
	if (l->head)
		l->head->prev = e;
	l->head = e;
	if (l->tail == NULL)
		l->tail = e;
}

/* drop - remove and free one entry */
static void drop(struct lru *l, struct lru_ent *e)
{
	struct lru_ent **pp = &l->b[e->h];

	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	unlink_list(l, e);
	if (l->free_value)
		l->free_value(e->value);
	l->cost -= e->cost;
	free(e);
	l->n--;
}

/* find - entry for key, or NULL */
static struct lru_ent *find(struct lru *l, const char *key)
{
	struct lru_ent *e = l->b[hash(l, key)];

	while (e && strcmp(e->key, key) != 0)
		e = e->hnext;
	return e;
}

/* lru_get - value for key if present and not expired */
void *lru_get(struct lru *l, const char *key, time_t now)
{
	struct lru_ent *e = find(l, key);

	if (e == NULL)
		return NULL;
	if (e->expires <= now) {
		drop(l, e);
		return NULL;
	}
	unlink_list(l, e);
	push_front(l, e);
	return e->value;
}

/* lru_put - insert or replace; the cache owns value (and frees it at
 * once if its cost alone is over the bound) */
void lru_put(struct lru *l, const char *key, void *value, time_t expires,
    size_t cost)
{
	struct lru_ent *e = find(l, key);
	size_t h;

	if (e)
		drop(l, e);
	if (l->max_cost && cost > l->max_cost) {
		if (l->free_value)
			l->free_value(value);
		return;
	}
	while (l->n >= l->max ||
	    (l->max_cost && l->cost + cost > l->max_cost))
		drop(l, l->tail);
	h = strlen(key);
	e = xmalloc(sizeof(*e) + h + 1);
	memcpy(e->key, key, h + 1);
	e->prev = e->next = NULL;
	e->value = value;
	e->expires = expires;
	e->cost = cost;
	l->cost += cost;
	h = hash(l, key);
	e->h = h;
	e->hnext = l->b[h];
	l->b[h] = e;
	push_front(l, e);
	l->n++;
}

/* lru_count - entries held */
size_t lru_count(const struct lru *l)
{
	return l->n;
}

/* lru_free - free everything; *lp = NULL */
void lru_free(struct lru **lp)
{
	struct lru *l = *lp;

	*lp = NULL;
	if (l == NULL)
		return;
	while (l->head)
		drop(l, l->head);
	free(l->b);
	free(l);
}
