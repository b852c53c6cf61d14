/*
 * store.h - where greylisting state lives: one small interface, two back
 *           ends (embedded LMDB by default; Redis for fleets, to come).
 *
 * Public: store_open, store_close, store_grey, store_expire, store_sync.
 * Trust: keys are built by the engine (grey.c) from peer data: client
 *        network, normalized sender and recipient (or their SHA-256 with
 *        privacy on); they are bounded (STORE_KEY_MAX) before they get here.
 * Errors: every operation has three outcomes, as STYLE.md asks: done,
 *         and "retry" (-1 with *err_r: store unreachable, full, broken):
 *         "the store is down" is never read as "not greylisted".
 *
 * The greylisting decision is one atomic operation on the store (an LMDB
 * write transaction; on Redis one server-side script), so several worker
 * threads, processes or MX hosts sharing a store never race: the
 * algorithm is postgrey's (see store_grey).
 */
#ifndef POSTERN_STORE_H
#define POSTERN_STORE_H

#include <stddef.h>
#include <time.h>

#define STORE_KEY_MAX 1024

struct store;

struct store_grey_in {
	const char *triplet;	/* key of the triplet */
	const char *client;	/* key of the client (auto-whitelist) */
	time_t now;
	unsigned delay;		/* seconds before a retry is accepted */
	unsigned retry_window;	/* a first retry later than this restarts */
	unsigned max_age;	/* entries unused this long are forgotten */
	unsigned awl_clients;	/* successful deliveries to whitelist a
				   client; 0: no auto-whitelisting */
};

struct store_grey_out {
	int awl;		/* client auto-whitelisted: pass */
	long remaining;		/* seconds still to wait (<= 0: pass) */
	time_t first;		/* first seen (this round) */
	int last_was_successful;/* passed before: no X-Greylist again */
	unsigned awl_count;	/* client's successful deliveries */
};

struct store *store_open(const char *spec, size_t max_entries,
    const char **err_r);
void store_close(struct store **sp);
int store_grey(struct store *s, const struct store_grey_in *in,
    struct store_grey_out *out, const char **err_r);
size_t store_expire(struct store *s, time_t now, unsigned max_age,
    size_t batch);
void store_sync(struct store *s);

#endif
