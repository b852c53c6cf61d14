/*
 * lru.c - bounded cache; see lru.h.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lru.h"
#include "xalloc.h"

struct lru_ent {
	void *value;
	time_t expires;
	size_t h;		/* bucket */
	struct lru_ent *hnext, *prev, *next;
	char key[];		/* allocated with the entry */
};

struct lru {
	struct lru_ent **b;
	size_t nb, n, max;
	struct lru_ent *head, *tail;
	lru_free_fn *free_value;
};

/* hash - FNV-1a */
static size_t hash(const char *k, size_t nb)
{
	uint64_t h = 14695981039346656037ULL;

	for (; *k; k++) {
		h ^= (unsigned char)*k;
		h *= 1099511628211ULL;
	}
	return (size_t)(h % nb);
}

/* lru_new - cache of at most max entries */
struct lru *lru_new(size_t max, lru_free_fn *free_value)
{
	struct lru *l = xcalloc(1, sizeof(*l));

	l->max = max ? max : 1;
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
	free(e);
	l->n--;
}

/* find - entry for key, or NULL */
static struct lru_ent *find(struct lru *l, const char *key)
{
	struct lru_ent *e = l->b[hash(key, l->nb)];

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

/* lru_put - insert or replace; the cache owns value */
void lru_put(struct lru *l, const char *key, void *value, time_t expires)
{
	struct lru_ent *e = find(l, key);
	size_t h;

	if (e)
		drop(l, e);
	while (l->n >= l->max)
		drop(l, l->tail);
	h = strlen(key);
	e = xmalloc(sizeof(*e) + h + 1);
	memcpy(e->key, key, h + 1);
	e->prev = e->next = NULL;
	e->value = value;
	e->expires = expires;
	h = hash(key, l->nb);
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
