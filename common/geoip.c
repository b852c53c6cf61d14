/*
 * geoip.c - country, continent and ASN lookups in .mmdb files and the
 *           GeoIP policy table; see geoip.h.
 *
 * Handles: each opened database (struct geoip_db) and each parsed policy
 * (struct geoip_pol) is reference counted.  struct geoip holds one
 * reference to the current ones; a lookup takes its own references under
 * g->mu (a few instructions), works without any lock, and drops them.  A
 * reload builds the new handle outside every lock, swaps the pointer
 * under g->mu and drops the old reference: the last lookup still using
 * it closes it.  Reloads are serialized by g->reload_mu (try-lock: a
 * thread that finds a reload running does not wait for it).
 *
 * Change detection: stat (dev, ino, size, mtime in ns) taken *before*
 * the file is read, so a replacement racing the load is seen again at
 * the next check rather than missed.  A change that fails to load is
 * remembered with its identity (or its stat errno), so it is logged once
 * and not retried until the file changes again.
 *
 * Verification at open (libmaxminddb 1.7 exports no MMDB_verify): the
 * metadata is checked, every search-tree node is read with
 * MMDB_read_node and each record must be a node, "empty" or a data
 * offset inside the data section; the first GEOIP_VERIFY_RECORDS
 * distinct data records are decoded in full (MMDB_get_entry_data_list,
 * which bounds nesting depth).  Lookups then only follow checked
 * records; MMDB_get_value checks what it decodes.
 *
 * Policy: an open-addressing hash table (linear probing, at most half
 * full) of 64-bit keys: type << 33 | value, where value is the ASN, the
 * two upper-case letters of a code, or 1 << 32 for "unknown".  Texts
 * live in one arena.
 */
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <maxminddb.h>

#include "buf.h"
#include "geoip.h"
#include "log.h"
#include "xalloc.h"

#define GEOIP_ERR_SIZE		512	/* an error: path, line, reason */
#define GEOIP_DBTYPE_MAX	128	/* bytes of metadata database_type */

#define K_COUNTRY		1ULL
#define K_CONTINENT		2ULL
#define K_ASN			3ULL
#define K_UNKNOWN		(1ULL << 32)
#define KEY(type, v)		(((type) << 33) | (v))

struct geoip_db {
	int refs;			/* __atomic */
	MMDB_s mmdb;
};

struct pol_ent {
	uint64_t key;			/* 0: empty slot */
	enum geoip_action action;
	int is_score;
	int score;
	size_t text_off;		/* into arena */
	size_t text_len;
	unsigned line;
};

struct geoip_pol {
	int refs;			/* __atomic */
	struct pol_ent *tab;		/* mask + 1 slots */
	size_t mask;
	size_t n;
	char *arena;
};

struct file_id {
	int err;			/* stat errno, 0 when the rest is set */
	dev_t dev;
	ino_t ino;
	off_t size;
	long long mtime_ns;
};

struct watched {
	char *path;			/* NULL: not configured */
	struct file_id cur;		/* of what is loaded */
	struct file_id failed;		/* last change that failed, logged */
	int have_failed;
};

struct geoip {
	pthread_mutex_t mu;		/* guards the three pointers */
	struct geoip_db *country;
	struct geoip_db *asn;
	struct geoip_pol *pol;
	pthread_mutex_t reload_mu;	/* serializes reloads */
	struct watched w_country, w_asn, w_pol;
	unsigned interval_ms;
	unsigned long long next_check_ms;	/* __atomic */
};

static const char *const action_names[] = {
	[GEOIP_DUNNO] = "DUNNO", [GEOIP_OK] = "OK", [GEOIP_REJECT] = "REJECT",
	[GEOIP_DEFER] = "DEFER", [GEOIP_HOLD] = "HOLD", [GEOIP_WARN] = "WARN",
};

/* geoip_action_name - the policy word of an action */
const char *geoip_action_name(enum geoip_action a)
{
	if ((unsigned)a < sizeof(action_names) / sizeof(action_names[0]))
		return action_names[a];
	return "?";
}

/* mono_ms - monotonic milliseconds */
static unsigned long long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000ULL +
	    (unsigned long long)ts.tv_nsec / 1000000ULL;
}

/* file_stat - the identity of path now (err set when stat fails) */
static void file_stat(const char *path, struct file_id *id)
{
	struct stat st;

	memset(id, 0, sizeof(*id));
	if (stat(path, &st) < 0) {
		id->err = errno ? errno : EIO;
		return;
	}
	id->dev = st.st_dev;
	id->ino = st.st_ino;
	id->size = st.st_size;
	id->mtime_ns = (long long)st.st_mtim.tv_sec * 1000000000LL +
	    st.st_mtim.tv_nsec;
}

/* file_same - two identities equal */
static int file_same(const struct file_id *a, const struct file_id *b)
{
	return a->err == b->err && a->dev == b->dev && a->ino == b->ino &&
	    a->size == b->size && a->mtime_ns == b->mtime_ns;
}

/* ---------------------------------------------------------------- databases */

/* db_unref - drop one reference; the last one closes the database */
static void db_unref(struct geoip_db *db)
{
	if (db == NULL)
		return;
	if (__atomic_sub_fetch(&db->refs, 1, __ATOMIC_ACQ_REL) == 0) {
		MMDB_close(&db->mmdb);
		free(db);
	}
}

/* db_ref - take one more reference */
static struct geoip_db *db_ref(struct geoip_db *db)
{
	if (db != NULL)
		__atomic_add_fetch(&db->refs, 1, __ATOMIC_ACQ_REL);
	return db;
}

/* offset_seen - add off to the open-addressing set; 1 if it was there */
static int offset_seen(uint32_t *set, size_t mask, uint32_t off)
{
	size_t i = ((size_t)off * 0x9E3779B1u) & mask;

	/* slots hold off + 1; 0 is empty */
	while (set[i] != 0) {
		if (set[i] == off + 1)
			return 1;
		i = (i + 1) & mask;
	}
	set[i] = off + 1;
	return 0;
}

/* db_check_record - one search-tree record: range and, while the budget
 * lasts, a full decode of new data records; -1 with *why */
static int db_check_record(const MMDB_s *m, uint64_t rec, uint8_t type,
    MMDB_entry_s entry, uint32_t *set, size_t mask, size_t *decoded,
    const char **why)
{
	uint32_t nodes = m->metadata.node_count;
	MMDB_entry_data_list_s *list = NULL;
	int rc;

	switch (type) {
	case MMDB_RECORD_TYPE_SEARCH_NODE:
		if (rec >= nodes) {
			*why = "search tree record out of range";
			return -1;
		}
		return 0;
	case MMDB_RECORD_TYPE_EMPTY:
		return 0;
	case MMDB_RECORD_TYPE_DATA:
		break;
	default:
		*why = "invalid search tree record";
		return -1;
	}
	if (rec < (uint64_t)nodes + 16 ||
	    rec - nodes - 16 >= m->data_section_size ||
	    entry.offset != rec - nodes - 16) {
		*why = "data record outside the data section";
		return -1;
	}
	if (*decoded >= GEOIP_VERIFY_RECORDS ||
	    offset_seen(set, mask, entry.offset))
		return 0;
	(*decoded)++;
	rc = MMDB_get_entry_data_list(&entry, &list);
	MMDB_free_entry_data_list(list);
	if (rc != MMDB_SUCCESS) {
		*why = MMDB_strerror(rc);
		return -1;
	}
	return 0;
}

/* db_verify - metadata and search tree sanity (see the top); -1 with *why */
static int db_verify(const MMDB_s *m, const char **why)
{
	const MMDB_metadata_s *md = &m->metadata;
	MMDB_search_node_s node;
	uint64_t tree_bytes;
	uint32_t i, *set;
	size_t len, mask, want, decoded = 0;
	int rc = 0;

	if (md->database_type == NULL ||
	    (len = strnlen(md->database_type, GEOIP_DBTYPE_MAX + 1)) == 0 ||
	    len > GEOIP_DBTYPE_MAX) {
		*why = "metadata: bad database_type";
		return -1;
	}
	for (i = 0; i < len; i++)
		if (!isprint((unsigned char)md->database_type[i])) {
			*why = "metadata: database_type not printable";
			return -1;
		}
	if (md->binary_format_major_version != 2) {
		*why = "metadata: binary format is not version 2";
		return -1;
	}
	if (md->ip_version != 4 && md->ip_version != 6) {
		*why = "metadata: ip_version is neither 4 nor 6";
		return -1;
	}
	if (md->record_size != 24 && md->record_size != 28 &&
	    md->record_size != 32) {
		*why = "metadata: record_size is not 24, 28 or 32";
		return -1;
	}
	tree_bytes = (uint64_t)md->node_count * md->record_size / 4;
	if (md->node_count == 0 || m->file_size < 0 ||
	    tree_bytes + 16 > (uint64_t)m->file_size) {
		*why = "metadata: node_count does not fit the file";
		return -1;
	}
	want = (size_t)md->node_count * 2 < GEOIP_VERIFY_RECORDS ?
	    (size_t)md->node_count * 2 : GEOIP_VERIFY_RECORDS;
	for (mask = 16; mask < want * 2; mask <<= 1)
		;
	set = xcalloc(mask, sizeof(*set));
	mask--;
	for (i = 0; i < md->node_count && rc == 0; i++) {
		int r = MMDB_read_node(m, i, &node);

		if (r != MMDB_SUCCESS) {
			*why = MMDB_strerror(r);
			rc = -1;
			break;
		}
		rc = db_check_record(m, node.left_record,
		    node.left_record_type, node.left_record_entry, set, mask,
		    &decoded, why);
		if (rc == 0)
			rc = db_check_record(m, node.right_record,
			    node.right_record_type, node.right_record_entry, set,
			    mask, &decoded, why);
	}
	free(set);
	return rc;
}

/* db_open - open and verify one database; NULL with *err_r */
static struct geoip_db *db_open(const char *path, const char **err_r)
{
	static __thread char err[GEOIP_ERR_SIZE];
	struct geoip_db *db = xcalloc(1, sizeof(*db));
	const char *why = NULL;
	int rc, saved;

	errno = 0;
	rc = MMDB_open(path, MMDB_MODE_MMAP, &db->mmdb);
	saved = errno;
	if (rc != MMDB_SUCCESS) {
		if (rc == MMDB_FILE_OPEN_ERROR || rc == MMDB_IO_ERROR)
			snprintf(err, sizeof(err), "%s: %s: %s", path,
			    MMDB_strerror(rc),
			    saved ? strerror(saved) : "unknown error");
		else
			snprintf(err, sizeof(err), "%s: %s", path,
			    MMDB_strerror(rc));
		free(db);
		*err_r = err;
		return NULL;
	}
	if (db_verify(&db->mmdb, &why) < 0) {
		snprintf(err, sizeof(err), "%s: corrupt database: %s", path,
		    why);
		MMDB_close(&db->mmdb);
		free(db);
		*err_r = err;
		return NULL;
	}
	db->refs = 1;
	return db;
}

/* ---------------------------------------------------------------- policy */

/* pol_unref - drop one reference; the last one frees the policy */
static void pol_unref(struct geoip_pol *p)
{
	if (p == NULL)
		return;
	if (__atomic_sub_fetch(&p->refs, 1, __ATOMIC_ACQ_REL) == 0) {
		free(p->tab);
		free(p->arena);
		free(p);
	}
}

/* key_hash - mix a 64-bit key (splitmix64 finalizer) */
static size_t key_hash(uint64_t k)
{
	k ^= k >> 30;
	k *= 0xbf58476d1ce4e5b9ULL;
	k ^= k >> 27;
	k *= 0x94d049bb133111ebULL;
	k ^= k >> 31;
	return (size_t)k;
}

/* pol_find - the entry for key, or NULL */
static const struct pol_ent *pol_find(const struct geoip_pol *p, uint64_t key)
{
	size_t i;

	if (p == NULL || p->n == 0)
		return NULL;
	for (i = key_hash(key) & p->mask; p->tab[i].key != 0;
	    i = (i + 1) & p->mask)
		if (p->tab[i].key == key)
			return &p->tab[i];
	return NULL;
}

/* word_eq - s[0..len) equals the lower-case word w, ignoring case */
static int word_eq(const char *s, size_t len, const char *w)
{
	return strlen(w) == len && strncasecmp(s, w, len) == 0;
}

/* parse_asn - decimal 1..UINT32_MAX; -1 otherwise */
static int parse_asn(const char *s, size_t len, uint64_t *v_r)
{
	uint64_t v = 0;
	size_t i;

	if (len == 0 || len > 10)
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v == 0 || v > UINT32_MAX)
		return -1;
	*v_r = v;
	return 0;
}

/* code_value - two ASCII letters as upper-case value; -1 otherwise */
static int code_value(const char *s, size_t len, uint64_t *v_r)
{
	if (len != 2 || !isalpha((unsigned char)s[0]) ||
	    !isalpha((unsigned char)s[1]) || (unsigned char)s[0] > 127 ||
	    (unsigned char)s[1] > 127)
		return -1;
	*v_r = (uint64_t)toupper((unsigned char)s[0]) << 8 |
	    (uint64_t)toupper((unsigned char)s[1]);
	return 0;
}

/* parse_key - a policy key; -1 with *why */
static int parse_key(const char *s, size_t len, uint64_t *key_r,
    const char **why)
{
	static const char *const continents[] = { "AF", "AN", "AS", "EU",
	    "NA", "OC", "SA" };
	uint64_t v;
	size_t i;

	if (len > 4 && strncasecmp(s, "asn:", 4) == 0) {
		s += 4;
		len -= 4;
		if (word_eq(s, len, "unknown")) {
			*key_r = KEY(K_ASN, K_UNKNOWN);
			return 0;
		}
		if (len > 2 && strncasecmp(s, "as", 2) == 0) {
			s += 2;
			len -= 2;
		}
		if (parse_asn(s, len, &v) < 0) {
			*why = "bad AS number (1..4294967295 or \"unknown\")";
			return -1;
		}
		*key_r = KEY(K_ASN, v);
		return 0;
	}
	if (len > 2 && strncasecmp(s, "as", 2) == 0 &&
	    s[2] >= '0' && s[2] <= '9') {
		if (parse_asn(s + 2, len - 2, &v) < 0) {
			*why = "bad AS number (1..4294967295)";
			return -1;
		}
		*key_r = KEY(K_ASN, v);
		return 0;
	}
	if (len > 8 && strncasecmp(s, "country:", 8) == 0) {
		if (word_eq(s + 8, len - 8, "unknown")) {
			*key_r = KEY(K_COUNTRY, K_UNKNOWN);
			return 0;
		}
		if (code_value(s + 8, len - 8, &v) < 0) {
			*why = "bad country code (two letters or \"unknown\")";
			return -1;
		}
		*key_r = KEY(K_COUNTRY, v);
		return 0;
	}
	if (len > 10 && strncasecmp(s, "continent:", 10) == 0) {
		if (word_eq(s + 10, len - 10, "unknown")) {
			*key_r = KEY(K_CONTINENT, K_UNKNOWN);
			return 0;
		}
		for (i = 0; i < sizeof(continents) / sizeof(continents[0]); i++)
			if (word_eq(s + 10, len - 10, continents[i]))
				break;
		if (i == sizeof(continents) / sizeof(continents[0]) ||
		    code_value(s + 10, 2, &v) < 0) {
			*why = "bad continent (AF AN AS EU NA OC SA or "
			    "\"unknown\")";
			return -1;
		}
		*key_r = KEY(K_CONTINENT, v);
		return 0;
	}
	*why = "unknown key (country:CC, continent:CC, asn:N or ASN)";
	return -1;
}

/* parse_score - SCORE's argument; -1 when not an integer in range */
static int parse_score(const char *s, size_t len, int *v_r)
{
	long long v = 0;
	size_t i = 0;
	int neg = 0;

	if (len > 0 && (s[0] == '-' || s[0] == '+')) {
		neg = s[0] == '-';
		i = 1;
	}
	if (i == len || len - i > 7)
		return -1;
	for (; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	if (v > GEOIP_SCORE_MAX)
		return -1;
	*v_r = (int)(neg ? -v : v);
	return 0;
}

/* is_space - blank within a line */
static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* parse_line - one non-blank, non-comment line into e; -1 with *why */
static int parse_line(const char *s, size_t len, struct pol_ent *e,
    struct buf *arena, const char **why)
{
	size_t i = 0, k0, k1, a0, a1, t1, j;

	k0 = i;
	while (i < len && !is_space(s[i]))
		i++;
	k1 = i;
	while (i < len && is_space(s[i]))
		i++;
	a0 = i;
	while (i < len && !is_space(s[i]))
		i++;
	a1 = i;
	while (i < len && is_space(s[i]))
		i++;
	t1 = len;
	while (t1 > i && is_space(s[t1 - 1]))
		t1--;
	if (parse_key(s + k0, k1 - k0, &e->key, why) < 0)
		return -1;
	if (a0 == a1) {
		*why = "missing action";
		return -1;
	}
	e->is_score = 0;
	e->score = 0;
	e->text_off = BUF_LEN(arena);
	e->text_len = 0;
	if (word_eq(s + a0, a1 - a0, "score")) {
		e->is_score = 1;
		e->action = GEOIP_DUNNO;
		if (parse_score(s + i, t1 - i, &e->score) < 0) {
			*why = "SCORE needs one integer (-1000000..1000000)";
			return -1;
		}
		return 0;
	}
	if (word_eq(s + a0, a1 - a0, "ok"))
		e->action = GEOIP_OK;
	else if (word_eq(s + a0, a1 - a0, "dunno"))
		e->action = GEOIP_DUNNO;
	else if (word_eq(s + a0, a1 - a0, "reject"))
		e->action = GEOIP_REJECT;
	else if (word_eq(s + a0, a1 - a0, "defer"))
		e->action = GEOIP_DEFER;
	else if (word_eq(s + a0, a1 - a0, "hold"))
		e->action = GEOIP_HOLD;
	else if (word_eq(s + a0, a1 - a0, "warn"))
		e->action = GEOIP_WARN;
	else {
		*why = "unknown action (REJECT DEFER HOLD WARN SCORE OK DUNNO)";
		return -1;
	}
	if (e->action == GEOIP_OK || e->action == GEOIP_DUNNO) {
		if (t1 > i) {
			*why = "OK and DUNNO take no text";
			return -1;
		}
		return 0;
	}
	if (t1 - i > GEOIP_TEXT_MAX) {
		*why = "text longer than 255 bytes";
		return -1;
	}
	for (j = i; j < t1; j++)
		if (s[j] != '\t' && (s[j] < 0x20 || s[j] > 0x7e)) {
			*why = "text is not printable ASCII";
			return -1;
		}
	for (j = i; j < t1; j++)
		if (buf_appendc(arena, s[j] == '\t' ? ' ' : s[j]) < 0) {
			*why = "policy text too large";
			return -1;
		}
	e->text_len = t1 - i;
	return 0;
}

/* pol_build - parse text into a policy; NULL with *err_r naming the line */
static struct geoip_pol *pol_build(const char *text, size_t len,
    const char **err_r)
{
	static __thread char err[GEOIP_ERR_SIZE];
	struct pol_ent *v = NULL;
	size_t nv = 0, capv = 0, pos = 0, i, cap;
	struct geoip_pol *p;
	struct buf arena;
	const char *why = NULL;
	unsigned line = 0;

	buf_init(&arena, GEOIP_POLICY_FILE_MAX);
	if (len > GEOIP_POLICY_FILE_MAX) {
		snprintf(err, sizeof(err), "policy larger than %d bytes",
		    GEOIP_POLICY_FILE_MAX);
		goto fail;
	}
	while (pos < len) {
		const char *s = text + pos, *nl = memchr(s, '\n', len - pos);
		size_t l = nl ? (size_t)(nl - s) : len - pos, b;

		pos += l + (nl != NULL);
		line++;
		if (l > GEOIP_LINE_MAX) {
			snprintf(err, sizeof(err), "line %u: longer than %d "
			    "bytes", line, GEOIP_LINE_MAX);
			goto fail;
		}
		if (memchr(s, '\0', l) != NULL) {
			snprintf(err, sizeof(err), "line %u: NUL byte", line);
			goto fail;
		}
		for (b = 0; b < l && is_space(s[b]); b++)
			;
		if (b == l || s[b] == '#')
			continue;
		if (nv == GEOIP_POLICY_MAX) {
			snprintf(err, sizeof(err), "line %u: more than %d "
			    "entries", line, GEOIP_POLICY_MAX);
			goto fail;
		}
		if (nv == capv) {
			capv = capv ? capv * 2 : 64;
			v = xrealloc(v, capv * sizeof(*v));
		}
		if (parse_line(s + b, l - b, &v[nv], &arena, &why) < 0) {
			snprintf(err, sizeof(err), "line %u: %s", line, why);
			goto fail;
		}
		v[nv].line = line;
		nv++;
	}
	for (cap = 16; cap < nv * 2 + 1; cap <<= 1)
		;
	p = xcalloc(1, sizeof(*p));
	p->refs = 1;
	p->tab = xcalloc(cap, sizeof(*p->tab));
	p->mask = cap - 1;
	for (i = 0; i < nv; i++) {
		size_t h = key_hash(v[i].key) & p->mask;

		while (p->tab[h].key != 0 && p->tab[h].key != v[i].key)
			h = (h + 1) & p->mask;
		if (p->tab[h].key == v[i].key) {
			snprintf(err, sizeof(err), "line %u: duplicate key "
			    "(first on line %u)", v[i].line, p->tab[h].line);
			p->n = 0;
			pol_unref(p);
			goto fail;
		}
		p->tab[h] = v[i];
		p->n++;
	}
	free(v);
	p->arena = buf_steal(&arena);
	return p;
fail:
	free(v);
	buf_free(&arena);
	*err_r = err;
	return NULL;
}

/* geoip_policy_parse - parse only (see geoip.h) */
int geoip_policy_parse(const char *text, size_t len, size_t *n_r,
    const char **err_r)
{
	struct geoip_pol *p = pol_build(text, len, err_r);

	if (p == NULL)
		return -1;
	if (n_r != NULL)
		*n_r = p->n;
	pol_unref(p);
	return 0;
}

/* pol_load - read and parse a policy file; NULL with *err_r */
static struct geoip_pol *pol_load(const char *path, const char **err_r)
{
	static __thread char err[GEOIP_ERR_SIZE];
	struct geoip_pol *p;
	struct buf b;
	const char *why;

	buf_init(&b, GEOIP_POLICY_FILE_MAX);
	if (buf_read_file(&b, path, err_r) < 0) {
		buf_free(&b);
		return NULL;
	}
	p = pol_build(BUF_DATA(&b), BUF_LEN(&b), &why);
	buf_free(&b);
	if (p == NULL) {
		snprintf(err, sizeof(err), "%s: %s", path, why);
		*err_r = err;
	}
	return p;
}

/* ---------------------------------------------------------------- open */

/* watch_init - remember path and its identity before the first load */
static void watch_init(struct watched *w, const char *path)
{
	memset(w, 0, sizeof(*w));
	if (path == NULL)
		return;
	w->path = xstrdup(path);
	file_stat(path, &w->cur);
}

/* geoip_open - load the configured files (see geoip.h) */
struct geoip *geoip_open(const struct geoip_config *cfg, const char **err_r)
{
	struct geoip *g = xcalloc(1, sizeof(*g));

	pthread_mutex_init(&g->mu, NULL);
	pthread_mutex_init(&g->reload_mu, NULL);
	g->interval_ms = cfg->check_interval_ms;
	g->next_check_ms = mono_ms() + g->interval_ms;
	watch_init(&g->w_country, cfg->country_db);
	watch_init(&g->w_asn, cfg->asn_db);
	watch_init(&g->w_pol, cfg->policy);
	if ((cfg->country_db != NULL &&
	    (g->country = db_open(cfg->country_db, err_r)) == NULL) ||
	    (cfg->asn_db != NULL &&
	    (g->asn = db_open(cfg->asn_db, err_r)) == NULL) ||
	    (cfg->policy != NULL &&
	    (g->pol = pol_load(cfg->policy, err_r)) == NULL)) {
		geoip_free(&g);
		return NULL;
	}
	return g;
}

/* geoip_free - drop our references; lookups in flight finish first */
void geoip_free(struct geoip **gp)
{
	struct geoip *g = *gp;

	if (g == NULL)
		return;
	db_unref(g->country);
	db_unref(g->asn);
	pol_unref(g->pol);
	free(g->w_country.path);
	free(g->w_asn.path);
	free(g->w_pol.path);
	pthread_mutex_destroy(&g->mu);
	pthread_mutex_destroy(&g->reload_mu);
	free(g);
	*gp = NULL;
}

/* ---------------------------------------------------------------- reload */

/* watch_changed - 1 when w's file changed to something not yet tried;
 * the new identity in *id */
static int watch_changed(struct watched *w, struct file_id *id)
{
	file_stat(w->path, id);
	if (file_same(id, &w->cur))
		return 0;
	if (w->have_failed && file_same(id, &w->failed))
		return 0;
	return 1;
}

/* watch_failed - log a failed change once and remember it */
static void watch_failed(struct watched *w, const struct file_id *id,
    const char *err)
{
	w->failed = *id;
	w->have_failed = 1;
	log_error("geoip: %s; keeping the loaded one", err);
}

/* watch_begin - 1 when w's file changed and can be loaded (id set);
 * a file that cannot be examined is logged once and keeps the old one */
static int watch_begin(struct watched *w, struct file_id *id)
{
	static __thread char err[GEOIP_ERR_SIZE];

	if (w->path == NULL || !watch_changed(w, id))
		return 0;
	if (id->err != 0) {
		snprintf(err, sizeof(err), "%s: %s", w->path,
		    strerror(id->err));
		watch_failed(w, id, err);
		return 0;
	}
	return 1;
}

/* watch_done - w's new file is in use */
static void watch_done(struct watched *w, const struct file_id *id)
{
	w->cur = *id;
	w->have_failed = 0;
}

/* reload_db - swap in w's database if its file changed */
static void reload_db(struct geoip *g, struct watched *w,
    struct geoip_db **slot)
{
	struct geoip_db *db, *old;
	struct file_id id;
	const char *e = NULL;

	if (!watch_begin(w, &id))
		return;
	if ((db = db_open(w->path, &e)) == NULL) {
		watch_failed(w, &id, e);
		return;
	}
	pthread_mutex_lock(&g->mu);
	old = *slot;
	*slot = db;
	pthread_mutex_unlock(&g->mu);
	db_unref(old);
	watch_done(w, &id);
	log_info("geoip: reloaded %s (%s, built %llu)", w->path,
	    db->mmdb.metadata.database_type,
	    (unsigned long long)db->mmdb.metadata.build_epoch);
}

/* reload_pol - swap in the policy if its file changed */
static void reload_pol(struct geoip *g)
{
	struct watched *w = &g->w_pol;
	struct geoip_pol *p, *old;
	struct file_id id;
	const char *e = NULL;

	if (!watch_begin(w, &id))
		return;
	if ((p = pol_load(w->path, &e)) == NULL) {
		watch_failed(w, &id, e);
		return;
	}
	pthread_mutex_lock(&g->mu);
	old = g->pol;
	g->pol = p;
	pthread_mutex_unlock(&g->mu);
	pol_unref(old);
	watch_done(w, &id);
	log_info("geoip: reloaded %s (%zu entries)", w->path, p->n);
}

/* geoip_maybe_reload - check the files once per interval (see geoip.h) */
void geoip_maybe_reload(struct geoip *g)
{
	unsigned long long now, next;

	if (g == NULL || g->interval_ms == 0)
		return;
	now = mono_ms();
	next = __atomic_load_n(&g->next_check_ms, __ATOMIC_ACQUIRE);
	if (now < next)
		return;
	/* one thread per interval claims the check */
	if (!__atomic_compare_exchange_n(&g->next_check_ms, &next,
	    now + g->interval_ms, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return;
	if (pthread_mutex_trylock(&g->reload_mu) != 0)
		return;
	reload_db(g, &g->w_country, &g->country);
	reload_db(g, &g->w_asn, &g->asn);
	reload_pol(g);
	pthread_mutex_unlock(&g->reload_mu);
}

/* ---------------------------------------------------------------- lookups */

/* get_string - a UTF-8 string at path; 1 found, 0 absent, -1 corrupt */
static int get_string(MMDB_entry_s *entry, MMDB_entry_data_s *d,
    const char *k1, const char *k2)
{
	int rc = MMDB_get_value(entry, d, k1, k2, NULL);

	if (rc == MMDB_LOOKUP_PATH_DOES_NOT_MATCH_DATA_ERROR)
		return 0;
	if (rc != MMDB_SUCCESS)
		return -1;
	return d->has_data && d->type == MMDB_DATA_TYPE_UTF8_STRING;
}

/* copy_code - a two-letter code, upper-cased, into out[3]; 0 or -1 */
static int copy_code(const MMDB_entry_data_s *d, char *out)
{
	uint64_t v;

	if (d->data_size != 2 || code_value(d->utf8_string, 2, &v) < 0)
		return -1;
	out[0] = (char)(v >> 8);
	out[1] = (char)(v & 0xff);
	out[2] = '\0';
	return 0;
}

/* copy_printable - bytes to out[outlen] as printable ASCII: one '?' per
 * other byte, UTF-8 continuation bytes dropped; cut to fit */
static void copy_printable(const char *s, size_t len, char *out,
    size_t outlen)
{
	size_t i, o = 0;

	for (i = 0; i < len && o + 1 < outlen; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x80 && c < 0xc0)
			continue;
		out[o++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	out[o] = '\0';
}

/* lookup_entry - the address's record: 1 found, 0 none (an IPv6
 * address in an IPv4 database too), -1 on a read error */
static int lookup_entry(const MMDB_s *m, const struct sockaddr *sa,
    MMDB_lookup_result_s *r)
{
	int merr = MMDB_SUCCESS;

	*r = MMDB_lookup_sockaddr(m, sa, &merr);
	if (merr == MMDB_IPV6_LOOKUP_IN_IPV4_DATABASE_ERROR)
		return 0;
	if (merr != MMDB_SUCCESS)
		return -1;
	return r->found_entry ? 1 : 0;
}

/* lookup_country - fill country and continent; -1 on a read error */
static int lookup_country(const MMDB_s *m, const struct sockaddr *sa,
    struct geoip_info *info)
{
	MMDB_lookup_result_s r;
	MMDB_entry_data_s d;
	int rc = 0, f;

	if ((f = lookup_entry(m, sa, &r)) <= 0)
		return f;
	f = get_string(&r.entry, &d, "country", "iso_code");
	if (f < 0)
		rc = -1;
	if (f <= 0 || copy_code(&d, info->country) < 0) {
		info->country[0] = '\0';
		f = get_string(&r.entry, &d, "registered_country",
		    "iso_code");
		if (f < 0)
			rc = -1;
		if (f > 0 && copy_code(&d, info->country) < 0)
			info->country[0] = '\0';
	}
	f = get_string(&r.entry, &d, "continent", "code");
	if (f < 0)
		rc = -1;
	if (f > 0 && copy_code(&d, info->continent) < 0)
		info->continent[0] = '\0';
	return rc;
}

/* lookup_asn - fill asn and asn_org; -1 on a read error */
static int lookup_asn(const MMDB_s *m, const struct sockaddr *sa,
    struct geoip_info *info)
{
	MMDB_lookup_result_s r;
	MMDB_entry_data_s d;
	int rc = 0, f;

	if ((f = lookup_entry(m, sa, &r)) <= 0)
		return f;
	f = MMDB_get_value(&r.entry, &d, "autonomous_system_number", NULL);
	if (f != MMDB_SUCCESS &&
	    f != MMDB_LOOKUP_PATH_DOES_NOT_MATCH_DATA_ERROR)
		rc = -1;
	else if (f == MMDB_SUCCESS && d.has_data) {
		if (d.type == MMDB_DATA_TYPE_UINT32)
			info->asn = d.uint32;
		else if (d.type == MMDB_DATA_TYPE_UINT16)
			info->asn = d.uint16;
		else if (d.type == MMDB_DATA_TYPE_UINT64 &&
		    d.uint64 <= UINT32_MAX)
			info->asn = (uint32_t)d.uint64;
	}
	f = get_string(&r.entry, &d, "autonomous_system_organization", NULL);
	if (f < 0)
		rc = -1;
	else if (f > 0)
		copy_printable(d.utf8_string, d.data_size, info->asn_org,
		    sizeof(info->asn_org));
	return rc;
}

/* geoip_lookup - country, continent and ASN of ip (see geoip.h) */
int geoip_lookup(struct geoip *g, const struct ipaddr *ip,
    struct geoip_info *info)
{
	struct sockaddr_in6 s6;
	struct sockaddr_in s4;
	struct sockaddr *sa;
	struct geoip_db *c, *a;
	struct ipaddr x = *ip;
	int rc = 0;

	memset(info, 0, sizeof(*info));
	geoip_maybe_reload(g);
	if (x.family == AF_INET6 && ip_is_v4mapped(&x))
		ip_unmap(&x);
	if (x.family == AF_INET) {
		memset(&s4, 0, sizeof(s4));
		s4.sin_family = AF_INET;
		memcpy(&s4.sin_addr, x.a, 4);
		sa = (struct sockaddr *)&s4;
	} else if (x.family == AF_INET6) {
		memset(&s6, 0, sizeof(s6));
		s6.sin6_family = AF_INET6;
		memcpy(&s6.sin6_addr, x.a, 16);
		sa = (struct sockaddr *)&s6;
	} else
		return 0;
	pthread_mutex_lock(&g->mu);
	c = db_ref(g->country);
	a = db_ref(g->asn);
	pthread_mutex_unlock(&g->mu);
	if (c != NULL && lookup_country(&c->mmdb, sa, info) < 0)
		rc = -1;
	if (a != NULL && lookup_asn(&a->mmdb, sa, info) < 0)
		rc = -1;
	db_unref(c);
	db_unref(a);
	return rc;
}

/* code_key - the policy key value of a looked-up code */
static uint64_t code_key(const char *cc)
{
	uint64_t v;

	if (code_value(cc, strnlen(cc, 3), &v) < 0)
		return K_UNKNOWN;
	return v;
}

/* key_name - "country:CN" etc. for d->key */
static void key_name(uint64_t type, uint64_t v, char *out, size_t outlen)
{
	const char *t = type == K_ASN ? "asn" : type == K_COUNTRY ?
	    "country" : "continent";

	if (v == K_UNKNOWN)
		snprintf(out, outlen, "%s:unknown", t);
	else if (type == K_ASN)
		snprintf(out, outlen, "%s:%llu", t, (unsigned long long)v);
	else
		snprintf(out, outlen, "%s:%c%c", t, (char)(v >> 8),
		    (char)(v & 0xff));
}

/* geoip_decide - apply the policy to info (see geoip.h) */
void geoip_decide(struct geoip *g, const struct geoip_info *info,
    struct geoip_decision *d)
{
	uint64_t types[3], vals[3];
	struct geoip_pol *p;
	int n = 0, i, decided = 0;

	memset(d, 0, sizeof(*d));
	d->action = GEOIP_DUNNO;
	pthread_mutex_lock(&g->mu);
	p = g->pol;
	if (p != NULL)
		__atomic_add_fetch(&p->refs, 1, __ATOMIC_ACQ_REL);
	pthread_mutex_unlock(&g->mu);
	if (p == NULL)
		return;
	if (g->w_asn.path != NULL) {
		types[n] = K_ASN;
		vals[n++] = info->asn ? info->asn : K_UNKNOWN;
	}
	if (g->w_country.path != NULL) {
		types[n] = K_COUNTRY;
		vals[n++] = code_key(info->country);
		types[n] = K_CONTINENT;
		vals[n++] = code_key(info->continent);
	}
	for (i = 0; i < n; i++) {
		const struct pol_ent *e = pol_find(p, KEY(types[i], vals[i]));

		if (e == NULL)
			continue;
		if (e->is_score) {
			d->score += e->score;
			continue;
		}
		if (decided)
			continue;
		decided = 1;
		d->action = e->action;
		key_name(types[i], vals[i], d->key, sizeof(d->key));
		memcpy(d->text, p->arena + e->text_off, e->text_len);
		d->text[e->text_len] = '\0';
	}
	pol_unref(p);
}

/* ---------------------------------------------------------------- output */

/* geoip_info_log - " geoip=DE/EU/AS3320" (see geoip.h) */
void geoip_info_log(const struct geoip_info *info, struct buf *out)
{
	char s[64], asn[16];
	uint64_t c = code_key(info->country), k = code_key(info->continent);
	int n;

	if (info->asn)
		snprintf(asn, sizeof(asn), "AS%lu", (unsigned long)info->asn);
	else
		snprintf(asn, sizeof(asn), "-");
	n = snprintf(s, sizeof(s), " geoip=%s/%s/%s",
	    c == K_UNKNOWN ? "-" : info->country,
	    k == K_UNKNOWN ? "-" : info->continent, asn);
	if (n > 0 && (size_t)n < sizeof(s))
		buf_appends(out, s);
}

/* geoip_header_value - "country=DE; continent=EU; asn=3320 (org)" */
void geoip_header_value(const struct geoip_info *info, struct buf *out)
{
	char s[GEOIP_ORG_MAX + 96], org[GEOIP_ORG_MAX], asn[16];
	uint64_t c = code_key(info->country), k = code_key(info->continent);
	size_t i;
	int n;

	copy_printable(info->asn_org, strnlen(info->asn_org, GEOIP_ORG_MAX),
	    org, sizeof(org));
	for (i = 0; org[i] != '\0'; i++)
		if (org[i] == '(' || org[i] == ')' || org[i] == '\\')
			org[i] = '?';
	if (info->asn)
		snprintf(asn, sizeof(asn), "%lu", (unsigned long)info->asn);
	else
		snprintf(asn, sizeof(asn), "unknown");
	n = snprintf(s, sizeof(s), "country=%s; continent=%s; asn=%s%s%s%s",
	    c == K_UNKNOWN ? "unknown" : info->country,
	    k == K_UNKNOWN ? "unknown" : info->continent, asn,
	    org[0] && info->asn ? " (" : "", info->asn ? org : "",
	    org[0] && info->asn ? ")" : "");
	if (n > 0 && (size_t)n < sizeof(s))
		buf_appends(out, s);
}
