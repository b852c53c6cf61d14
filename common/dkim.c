/*
 * dkim.c - DKIM signing and verifying engine; see dkim.h.
 *
 * RFC 6376 (DKIM), RFC 8463 (Ed25519-SHA256), RFC 8301 (no rsa-sha1, RSA
 * keys of 1024 bits and more), RFC 8601 (result names), RFC 6008
 * (header.b).
 *
 * Layout of a message's work:
 *   header   every field is kept (name, raw value) in one arena, bounded
 *            by DKIM_HDR_COUNT_MAX / DKIM_HDR_BYTES_MAX;
 *   eoh      DKIM-Signature fields are parsed (at most max_signatures,
 *            the rest get "policy"), and one body hasher is set up per
 *            (canonicalization, l=) needed by a signature or a signer;
 *   body     the raw body runs once through each canonicalizer in use
 *            (simple, relaxed), which feeds its hashers;
 *   eom      signing builds each DKIM-Signature with b= empty, hashes
 *            the selected headers and that field, signs; verifying looks
 *            the key up (parsed-key cache), checks it and the signature.
 *
 * Why not libopendkim for the crypto: it takes the private key as PEM
 * text per message (parsed again each time: most of OpenDKIM's 1.4-2.2 ms
 * per signed message), and its Ed25519 signatures with simple header
 * canonicalization do not verify anywhere (DESIGN.md).  Here keys are
 * parsed once and the RFC 8463 construction (Ed25519 over the SHA-256 of
 * the header data) is done with OpenSSL directly.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "authres.h"
#include "dkim.h"
#include "lru.h"
#include "xalloc.h"

#define DKIM_HDR_COUNT_MAX	4096	/* header fields kept per message */
#define DKIM_HDR_BYTES_MAX	(1024 * 1024)
#define DKIM_SIGNERS_MAX	8
#define DKIM_HASHERS_MAX	(DKIM_SIGS_MAX + DKIM_SIGNERS_MAX)
#define DKIM_TAGS_MAX		64	/* tags in one tag-list */
#define DKIM_B64_MAX		2048	/* decoded b=, bh=, p= bytes */
#define DKIM_KEYFILE_MAX	65536	/* PEM private key file */
#define DKIM_FOLD_COL		76	/* fold signature fields here */
#define KEYCACHE_MAX		10000
#define KEYCACHE_SECS		3600	/* keyed by record text: safe */

/* ------------------------------------------------------------ helpers */

static pthread_once_t md_once = PTHREAD_ONCE_INIT;
static EVP_MD *md_sha256;

/* md_init - fetch the digests once (implicit fetches are slow in 3.0) */
static void md_init(void)
{
	md_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	if (md_sha256 == NULL)
		abort();	/* libcrypto without SHA-256: cannot run */
}

/* sha256 - the fetched SHA-256 */
static const EVP_MD *sha256(void)
{
	pthread_once(&md_once, md_init);
	return md_sha256;
}

/* is_wsp - RFC 5234 WSP */
static int is_wsp(int c)
{
	return c == ' ' || c == '\t';
}

/* is_fws - WSP or a line break inside a folded field */
static int is_fws(int c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}


/*
 * b64_decode - base64 with FWS anywhere (RFC 6376 section 2.4 / 3.5);
 * strict padding; at most DKIM_B64_MAX bytes out.  0 or -1.
 */
static int b64_decode(const char *s, size_t len, unsigned char **out_r,
    size_t *outlen_r)
{
	unsigned char *out = xmalloc(len / 4 * 3 + 3);
	unsigned acc = 0;
	size_t n = 0, nchars = 0, pad = 0;

	for (size_t i = 0; i < len; i++) {
		int c = (unsigned char)s[i], v;

		if (is_fws(c))
			continue;
		if (c == '=') {
			pad++;
			continue;
		}
		if (pad || (v = b64_value(c)) < 0)
			goto bad;	/* data after padding, or not base64 */
		acc = acc << 6 | (unsigned)v;
		if (++nchars % 4 == 0) {
			out[n++] = (unsigned char)(acc >> 16);
			out[n++] = (unsigned char)(acc >> 8);
			out[n++] = (unsigned char)acc;
			acc = 0;
		}
		if (n > DKIM_B64_MAX)
			goto bad;
	}
	switch (nchars % 4) {
	case 0:
		if (pad)
			goto bad;
		break;
	case 2:
		if (pad != 2 && pad != 0)
			goto bad;
		out[n++] = (unsigned char)(acc >> 4);
		break;
	case 3:
		if (pad != 1 && pad != 0)
			goto bad;
		out[n++] = (unsigned char)(acc >> 10);
		out[n++] = (unsigned char)(acc >> 2);
		break;
	default:
		goto bad;
	}
	if (n == 0 || n > DKIM_B64_MAX)
		goto bad;
	*out_r = out;
	*outlen_r = n;
	return 0;
bad:
	free(out);
	return -1;
}

/* b64_encode - append base64 of p to b */
static int b64_encode(struct buf *b, const unsigned char *p, size_t n)
{
	char *tmp = xmalloc(4 * ((n + 2) / 3) + 1);
	int len = EVP_EncodeBlock((unsigned char *)tmp, p, (int)n);
	int rc = buf_append(b, tmp, (size_t)len);

	free(tmp);
	return rc;
}

/* ----------------------------------------------------------- tag lists */

struct tag {
	const char *name, *value;
	size_t nlen, vlen;
	size_t voff;		/* value offset in the whole text */
	size_t vend;		/* end of value + trailing FWS (up to ';') */
};

/*
 * taglist_parse - RFC 6376 section 3.2 tag=value list.  Values are
 * trimmed of surrounding FWS.  -1 with *err_r on a syntax error, a
 * duplicate tag or more than DKIM_TAGS_MAX tags.
 */
static int taglist_parse(const char *s, size_t len, struct tag *tags,
    size_t *n_r, const char **err_r)
{
	size_t i = 0, n = 0;

	for (;;) {
		size_t ns, ne, vs, ve;

		while (i < len && is_fws((unsigned char)s[i]))
			i++;
		if (i == len)
			break;		/* empty list or trailing ';' */
		ns = i;
		if (!isalpha((unsigned char)s[i])) {
			*err_r = "tag name does not start with a letter";
			return -1;
		}
		while (i < len && (isalnum((unsigned char)s[i]) ||
		    s[i] == '_'))
			i++;
		ne = i;
		while (i < len && is_fws((unsigned char)s[i]))
			i++;
		if (i == len || s[i] != '=') {
			*err_r = "tag without '='";
			return -1;
		}
		i++;
		while (i < len && is_fws((unsigned char)s[i]))
			i++;
		vs = i;
		while (i < len && s[i] != ';') {
			unsigned char c = (unsigned char)s[i];

			if (!is_fws(c) && (c < 0x21 || c > 0x7e)) {
				*err_r = "bad character in tag value";
				return -1;
			}
			i++;
		}
		ve = i;
		while (ve > vs && is_fws((unsigned char)s[ve - 1]))
			ve--;
		if (n == DKIM_TAGS_MAX) {
			*err_r = "too many tags";
			return -1;
		}
		for (size_t k = 0; k < n; k++)
			if (tags[k].nlen == ne - ns &&
			    memcmp(tags[k].name, s + ns, ne - ns) == 0) {
				*err_r = "duplicate tag";
				return -1;
			}
		tags[n].name = s + ns;
		tags[n].nlen = ne - ns;
		tags[n].value = s + vs;
		tags[n].vlen = ve - vs;
		tags[n].voff = vs;
		tags[n].vend = i;
		n++;
		if (i == len)
			break;
		i++;		/* ';' */
	}
	*n_r = n;
	return 0;
}

/* tag_find - the tag called name, or NULL */
static const struct tag *tag_find(const struct tag *tags, size_t n,
    const char *name)
{
	size_t nl = strlen(name);

	for (size_t i = 0; i < n; i++)
		if (tags[i].nlen == nl && memcmp(tags[i].name, name, nl) == 0)
			return &tags[i];
	return NULL;
}

/* tag_is - value equals s exactly */
static int tag_is(const struct tag *t, const char *s)
{
	return t->vlen == strlen(s) && memcmp(t->value, s, t->vlen) == 0;
}

/* tag_is_nocase - value equals s without regard to case */
static int tag_is_nocase(const struct tag *t, const char *s)
{
	return t->vlen == strlen(s) && strncasecmp(t->value, s, t->vlen) == 0;
}

/* tag_copy - value into out (NUL-terminated), lowercased if asked;
 * -1 if it does not fit */
static int tag_copy(const struct tag *t, char *out, size_t outlen,
    int lower)
{
	if (t->vlen >= outlen)
		return -1;
	for (size_t i = 0; i < t->vlen; i++)
		out[i] = lower ? (char)tolower((unsigned char)t->value[i]) :
		    t->value[i];
	out[t->vlen] = '\0';
	return 0;
}

/* tag_number - 1*DIGITS up to maxdigits; values of 10^18 and more clamp
 * to 10^18 (no l=, t= or x= means anything near it) */
static int tag_number(const struct tag *t, size_t maxdigits,
    long long *v_r)
{
	long long v = 0;

	if (t->vlen == 0 || t->vlen > maxdigits)
		return -1;
	for (size_t i = 0; i < t->vlen; i++) {
		if (!isdigit((unsigned char)t->value[i]))
			return -1;
		if (v < 100000000000000000LL)	/* clamp below 10^18 */
			v = v * 10 + (t->value[i] - '0');
		else
			v = 1000000000000000000LL;
	}
	*v_r = v;
	return 0;
}

/* domain_valid - LDH labels, 1..63 each, 253 in all */
static int domain_valid(const char *d)
{
	size_t label = 0, total = strlen(d);

	if (total == 0 || total > DKIM_DOMAIN_MAX)
		return 0;
	for (const char *p = d; ; p++) {
		if (*p == '.' || *p == '\0') {
			if (label == 0 || label > 63)
				return 0;
			if (*p == '\0')
				return 1;
			label = 0;
			continue;
		}
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_')
			return 0;
		label++;
	}
}

/* ----------------------------------------------------------- signature */

/* dkim_canon_parse - "relaxed/simple" etc.; body defaults to simple */
int dkim_canon_parse(const char *s, enum dkim_canon *h_r,
    enum dkim_canon *b_r)
{
	const char *slash = strchr(s, '/');
	size_t hl = slash ? (size_t)(slash - s) : strlen(s);

	if (hl == 6 && strncasecmp(s, "simple", 6) == 0)
		*h_r = DKIM_CANON_SIMPLE;
	else if (hl == 7 && strncasecmp(s, "relaxed", 7) == 0)
		*h_r = DKIM_CANON_RELAXED;
	else
		return -1;
	if (slash == NULL)
		*b_r = DKIM_CANON_SIMPLE;
	else if (strcasecmp(slash + 1, "simple") == 0)
		*b_r = DKIM_CANON_SIMPLE;
	else if (strcasecmp(slash + 1, "relaxed") == 0)
		*b_r = DKIM_CANON_RELAXED;
	else
		return -1;
	return 0;
}

/* dkim_sig_free - what dkim_sig_parse allocated */
void dkim_sig_free(struct dkim_sig *sig)
{
	for (size_t i = 0; i < sig->nhnames; i++)
		free(sig->hnames[i]);
	sig->nhnames = 0;
	free(sig->b);
	free(sig->bh);
	sig->b = sig->bh = NULL;
}

/* sig_hnames - the h= list: field-names separated by ':' with FWS */
static int sig_hnames(struct dkim_sig *sig, const struct tag *t,
    enum dkim_result *res_r, const char **err_r)
{
	size_t i = 0;
	int has_from = 0;

	while (i <= t->vlen) {
		size_t s, e;

		while (i < t->vlen && is_fws((unsigned char)t->value[i]))
			i++;
		s = i;
		while (i < t->vlen && t->value[i] != ':' &&
		    !is_fws((unsigned char)t->value[i])) {
			unsigned char c = (unsigned char)t->value[i];

			if (c < 33 || c > 126) {
				*res_r = DKIM_RES_NEUTRAL;
				*err_r = "bad header name in h=";
				return -1;
			}
			i++;
		}
		e = i;
		while (i < t->vlen && is_fws((unsigned char)t->value[i]))
			i++;
		if (e == s || (i < t->vlen && t->value[i] != ':')) {
			*res_r = DKIM_RES_NEUTRAL;
			*err_r = "empty or malformed header name in h=";
			return -1;
		}
		if (sig->nhnames == DKIM_HNAMES_MAX) {
			*res_r = DKIM_RES_POLICY;
			*err_r = "too many header names in h=";
			return -1;
		}
		sig->hnames[sig->nhnames] = xmalloc(e - s + 1);
		for (size_t k = 0; k < e - s; k++)
			sig->hnames[sig->nhnames][k] =
			    (char)tolower((unsigned char)t->value[s + k]);
		sig->hnames[sig->nhnames][e - s] = '\0';
		if (strcmp(sig->hnames[sig->nhnames], "from") == 0)
			has_from = 1;
		sig->nhnames++;
		i++;		/* past ':' (or the end) */
	}
	if (!has_from) {
		*res_r = DKIM_RES_PERMERROR;
		*err_r = "From is not signed";
		return -1;
	}
	return 0;
}

/* sig_identity - i= must be in d= or a subdomain of it */
static int sig_identity(struct dkim_sig *sig, const struct tag *t,
    enum dkim_result *res_r, const char **err_r)
{
	const char *at;
	size_t dl, il;

	if (tag_copy(t, sig->identity, sizeof(sig->identity), 0) < 0 ||
	    (at = strrchr(sig->identity, '@')) == NULL) {
		sig->identity[0] = '\0';
		*res_r = DKIM_RES_NEUTRAL;
		*err_r = "malformed i=";
		return -1;
	}
	at++;
	dl = strlen(sig->domain);
	il = strlen(at);
	if (!(il == dl && strcasecmp(at, sig->domain) == 0) &&
	    !(il > dl && at[il - dl - 1] == '.' &&
	    strcasecmp(at + il - dl, sig->domain) == 0)) {
		*res_r = DKIM_RES_PERMERROR;
		*err_r = "i= domain is not within d=";
		return -1;
	}
	return 0;
}

/*
 * dkim_sig_parse - RFC 6376 section 3.5.  Fields are filled as far as
 * they parse, so a failing signature can still be reported by d= and s=.
 */
int dkim_sig_parse(const char *value, size_t len, struct dkim_sig *sig,
    enum dkim_result *res_r, const char **err_r)
{
	struct tag tags[DKIM_TAGS_MAX];
	const struct tag *t;
	size_t n;
	int sha1 = 0;

	memset(sig, 0, sizeof(*sig));
	sig->l = sig->t = sig->x = -1;
	*res_r = DKIM_RES_NEUTRAL;
	if (len > DKIM_SIG_HEADER_MAX) {
		*err_r = "signature field too long";
		return -1;
	}
	if (memchr(value, '\0', len) != NULL) {
		*err_r = "NUL in signature";
		return -1;
	}
	if (taglist_parse(value, len, tags, &n, err_r) < 0)
		return -1;
	/* the fields used to report the signature first */
	if ((t = tag_find(tags, n, "d")) != NULL)
		if (tag_copy(t, sig->domain, sizeof(sig->domain), 1) < 0 ||
		    !domain_valid(sig->domain)) {
			sig->domain[0] = '\0';
			*err_r = "malformed d=";
			return -1;
		}
	if ((t = tag_find(tags, n, "s")) != NULL)
		if (tag_copy(t, sig->selector, sizeof(sig->selector), 1) < 0 ||
		    !domain_valid(sig->selector)) {
			sig->selector[0] = '\0';
			*err_r = "malformed s=";
			return -1;
		}
	if ((t = tag_find(tags, n, "b")) != NULL) {
		size_t k = 0;

		for (size_t i = 0; i < t->vlen && k < DKIM_BPREFIX_LEN; i++)
			if (!is_fws((unsigned char)t->value[i]))
				sig->bprefix[k++] = t->value[i];
		sig->bprefix[k] = '\0';
		/* removal span for verifying: after "b=" up to ';' or end,
		   surrounding whitespace included */
		sig->b_off = (size_t)((const char *)memchr(t->name, '=',
		    len - (size_t)(t->name - value)) - value) + 1;
		sig->b_len = t->vend - sig->b_off;
	}
	if ((t = tag_find(tags, n, "v")) == NULL || !tag_is(t, "1")) {
		*err_r = t ? "unknown version v=" : "no v= tag";
		return -1;
	}
	if ((t = tag_find(tags, n, "a")) == NULL) {
		*err_r = "no a= tag";
		return -1;
	}
	if (tag_is_nocase(t, "rsa-sha256"))
		sig->alg = DKIM_ALG_RSA_SHA256;
	else if (tag_is_nocase(t, "ed25519-sha256"))
		sig->alg = DKIM_ALG_ED25519_SHA256;
	else if (tag_is_nocase(t, "rsa-sha1"))
		sig->alg = DKIM_ALG_RSA_SHA1, sha1 = 1;
	else {
		*res_r = DKIM_RES_PERMERROR;
		*err_r = "unsupported algorithm";
		return -1;
	}
	if ((t = tag_find(tags, n, "b")) == NULL || t->vlen == 0 ||
	    b64_decode(t->value, t->vlen, &sig->b, &sig->blen) < 0) {
		*err_r = t ? "malformed b=" : "no b= tag";
		return -1;
	}
	if ((t = tag_find(tags, n, "bh")) == NULL || t->vlen == 0 ||
	    b64_decode(t->value, t->vlen, &sig->bh, &sig->bhlen) < 0) {
		*err_r = t ? "malformed bh=" : "no bh= tag";
		goto fail;
	}
	sig->hcanon = sig->bcanon = DKIM_CANON_SIMPLE;
	if ((t = tag_find(tags, n, "c")) != NULL) {
		char c[32];

		if (tag_copy(t, c, sizeof(c), 0) < 0 ||
		    dkim_canon_parse(c, &sig->hcanon, &sig->bcanon) < 0) {
			*err_r = "unknown canonicalization c=";
			goto fail;
		}
	}
	if (sig->domain[0] == '\0') {
		*err_r = "no d= tag";
		goto fail;
	}
	if (sig->selector[0] == '\0') {
		*err_r = "no s= tag";
		goto fail;
	}
	if ((t = tag_find(tags, n, "h")) == NULL) {
		*err_r = "no h= tag";
		goto fail;
	}
	if (sig_hnames(sig, t, res_r, err_r) < 0)
		goto fail;
	if ((t = tag_find(tags, n, "i")) != NULL) {
		if (sig_identity(sig, t, res_r, err_r) < 0)
			goto fail;
	} else {
		snprintf(sig->identity, sizeof(sig->identity), "@%s",
		    sig->domain);
	}
	if ((t = tag_find(tags, n, "l")) != NULL &&
	    tag_number(t, 76, &sig->l) < 0) {
		*res_r = DKIM_RES_NEUTRAL;
		*err_r = "malformed l=";
		goto fail;
	}
	if ((t = tag_find(tags, n, "q")) != NULL) {
		/* a colon list that must offer dns/txt */
		int ok = 0;

		for (size_t i = 0; i + 7 <= t->vlen; i++)
			if (strncasecmp(t->value + i, "dns/txt", 7) == 0 &&
			    (i == 0 || t->value[i - 1] == ':' ||
			    is_fws((unsigned char)t->value[i - 1])))
				ok = 1;
		if (!ok) {
			*res_r = DKIM_RES_PERMERROR;
			*err_r = "no supported query method q=";
			goto fail;
		}
	}
	if ((t = tag_find(tags, n, "t")) != NULL &&
	    tag_number(t, 12, &sig->t) < 0) {
		*res_r = DKIM_RES_NEUTRAL;
		*err_r = "malformed t=";
		goto fail;
	}
	if ((t = tag_find(tags, n, "x")) != NULL &&
	    tag_number(t, 12, &sig->x) < 0) {
		*res_r = DKIM_RES_NEUTRAL;
		*err_r = "malformed x=";
		goto fail;
	}
	if (sig->t >= 0 && sig->x >= 0 && sig->x < sig->t) {
		*res_r = DKIM_RES_PERMERROR;
		*err_r = "x= is before t=";
		goto fail;
	}
	if (sha1) {
		*res_r = DKIM_RES_FAIL;
		*err_r = "rsa-sha1 is not accepted (RFC 8301)";
		goto fail;
	}
	*res_r = DKIM_RES_NONE;
	return 0;
fail:
	dkim_sig_free(sig);
	return -1;
}

/* ---------------------------------------------------------------- keys */

struct dkim_key {
	EVP_PKEY *pkey;
	enum dkim_alg alg;
	int bits;
};

/* dkim_keyfile_check - regular file, no group or other permission bits */
int dkim_keyfile_check(const char *path, const char **err_r)
{
	static __thread char err[300];
	struct stat st;

	if (stat(path, &st) < 0) {
		snprintf(err, sizeof(err), "%.200s: %s", path,
		    strerror(errno));
		*err_r = err;
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, sizeof(err), "%.200s: not a regular file", path);
		*err_r = err;
		return -1;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		snprintf(err, sizeof(err), "%.200s: mode %04o lets others "
		    "than its owner read or change the private key (chmod "
		    "600)", path, (unsigned)(st.st_mode & 07777));
		*err_r = err;
		return -1;
	}
	return 0;
}

/* key_wrap - a dkim_key around an EVP_PKEY (taken over) */
static struct dkim_key *key_wrap(EVP_PKEY *pkey, const char **err_r)
{
	struct dkim_key *k;
	int id = EVP_PKEY_get_base_id(pkey);

	if (id != EVP_PKEY_RSA && id != EVP_PKEY_ED25519) {
		EVP_PKEY_free(pkey);
		*err_r = "not an RSA or Ed25519 private key";
		return NULL;
	}
	if (id == EVP_PKEY_RSA && EVP_PKEY_get_bits(pkey) < 1024) {
		EVP_PKEY_free(pkey);
		*err_r = "RSA key shorter than 1024 bits (RFC 8301)";
		return NULL;
	}
	k = xcalloc(1, sizeof(*k));
	k->pkey = pkey;
	k->alg = id == EVP_PKEY_RSA ? DKIM_ALG_RSA_SHA256 :
	    DKIM_ALG_ED25519_SHA256;
	k->bits = EVP_PKEY_get_bits(pkey);
	return k;
}

/* dkim_key_from_pem - parse a PEM private key (PKCS#8 or PKCS#1) */
struct dkim_key *dkim_key_from_pem(const char *pem, size_t len,
    const char **err_r)
{
	BIO *bio;
	EVP_PKEY *pkey;

	if (len > DKIM_KEYFILE_MAX) {
		*err_r = "key file too large";
		return NULL;
	}
	bio = BIO_new_mem_buf(pem, (int)len);
	pkey = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	if (pkey == NULL) {
		*err_r = "not a PEM private key";
		return NULL;
	}
	return key_wrap(pkey, err_r);
}

/* dkim_key_load - read and parse a key file */
struct dkim_key *dkim_key_load(const char *path, const char **err_r)
{
	static __thread char err[300];
	struct buf b;
	struct dkim_key *k;
	const char *e;

	buf_init(&b, DKIM_KEYFILE_MAX);
	if (buf_read_file(&b, path, &e) < 0) {
		snprintf(err, sizeof(err), "%.200s: %s", path, e);
		buf_free(&b);
		*err_r = err;
		return NULL;
	}
	k = dkim_key_from_pem(b.data, b.len, &e);
	OPENSSL_cleanse(b.data, b.len);
	buf_free(&b);
	if (k == NULL) {
		snprintf(err, sizeof(err), "%.200s: %s", path, e);
		*err_r = err;
	}
	return k;
}

/* dkim_key_free - release a key */
void dkim_key_free(struct dkim_key **kp)
{
	if (*kp == NULL)
		return;
	EVP_PKEY_free((*kp)->pkey);
	free(*kp);
	*kp = NULL;
}

/* dkim_key_alg - a= the key signs with */
enum dkim_alg dkim_key_alg(const struct dkim_key *k)
{
	return k->alg;
}

/* dkim_key_bits - modulus bits (RSA) or 256 (Ed25519) */
int dkim_key_bits(const struct dkim_key *k)
{
	return k->bits;
}

/* dkim_key_record - "v=DKIM1; k=rsa; p=SPKI" or "k=ed25519; p=RAW32" */
int dkim_key_record(const struct dkim_key *k, struct buf *out)
{
	unsigned char raw[64], *der = NULL;
	size_t rawlen = sizeof(raw);
	int derlen, rc;

	if (k->alg == DKIM_ALG_ED25519_SHA256) {
		if (EVP_PKEY_get_raw_public_key(k->pkey, raw, &rawlen) != 1)
			return -1;
		if (buf_appends(out, "v=DKIM1; k=ed25519; p=") < 0)
			return -1;
		return b64_encode(out, raw, rawlen);
	}
	if ((derlen = i2d_PUBKEY(k->pkey, &der)) <= 0)
		return -1;
	rc = buf_appends(out, "v=DKIM1; k=rsa; p=");
	if (rc == 0)
		rc = b64_encode(out, der, (size_t)derlen);
	OPENSSL_free(der);
	return rc;
}

/* rsa_pub_parse - SubjectPublicKeyInfo, or a bare PKCS#1 RSAPublicKey */
static EVP_PKEY *rsa_pub_parse(const unsigned char *p, size_t n)
{
	const unsigned char *q = p;
	EVP_PKEY *pk = d2i_PUBKEY(NULL, &q, (long)n);

	if (pk != NULL && q != p + n) {
		EVP_PKEY_free(pk);	/* trailing garbage */
		return NULL;
	}
	if (pk == NULL) {
		q = p;
		pk = d2i_PublicKey(EVP_PKEY_RSA, NULL, &q, (long)n);
		if (pk != NULL && q != p + n) {
			EVP_PKEY_free(pk);
			return NULL;
		}
	}
	if (pk != NULL && EVP_PKEY_get_base_id(pk) != EVP_PKEY_RSA) {
		EVP_PKEY_free(pk);
		return NULL;
	}
	return pk;
}

/* list_has - is word (without regard to case) one of the items of a
 * colon-separated tag value (h=, s=, t= of a key record) */
static int list_has(const struct tag *t, const char *word)
{
	size_t wl = strlen(word), i = 0;

	while (i < t->vlen) {
		size_t s;

		while (i < t->vlen && (is_fws((unsigned char)t->value[i]) ||
		    t->value[i] == ':'))
			i++;
		s = i;
		while (i < t->vlen && t->value[i] != ':' &&
		    !is_fws((unsigned char)t->value[i]))
			i++;
		if (i - s == wl && strncasecmp(t->value + s, word, wl) == 0)
			return 1;
	}
	return 0;
}

/* dkim_keyrec_parse - RFC 6376 section 3.6.1 (+ RFC 8463 k=ed25519) */
int dkim_keyrec_parse(const char *txt, size_t len, struct dkim_keyrec *r,
    const char **err_r)
{
	struct tag tags[DKIM_TAGS_MAX];
	const struct tag *t;
	unsigned char *raw = NULL;
	size_t n, rawlen;

	memset(r, 0, sizeof(*r));
	r->sha256_ok = r->sha1_ok = 1;
	if (len == 0) {
		*err_r = "empty key record";
		return -1;
	}
	if (len > DKIM_KEYREC_MAX) {
		*err_r = "key record too long";
		return -1;
	}
	if (memchr(txt, '\0', len) != NULL) {
		*err_r = "NUL in key record";
		return -1;
	}
	if (taglist_parse(txt, len, tags, &n, err_r) < 0)
		return -1;
	if ((t = tag_find(tags, n, "v")) != NULL &&
	    (t != &tags[0] || !tag_is(t, "DKIM1"))) {
		*err_r = "v= is not DKIM1 or not the first tag";
		return -1;
	}
	if ((t = tag_find(tags, n, "k")) == NULL || tag_is_nocase(t, "rsa"))
		r->ed25519 = 0;
	else if (tag_is_nocase(t, "ed25519"))
		r->ed25519 = 1;
	else {
		*err_r = "unknown key type k=";
		return -1;
	}
	if ((t = tag_find(tags, n, "h")) != NULL) {
		r->sha256_ok = list_has(t, "sha256");
		r->sha1_ok = list_has(t, "sha1");
	}
	if ((t = tag_find(tags, n, "s")) != NULL && !list_has(t, "*") &&
	    !list_has(t, "email")) {
		*err_r = "key not for email (s=)";
		return -1;
	}
	if ((t = tag_find(tags, n, "t")) != NULL) {
		r->testing = list_has(t, "y");
		r->strict = list_has(t, "s");
	}
	if ((t = tag_find(tags, n, "p")) == NULL) {
		*err_r = "no p= tag: not a key";
		return -1;
	}
	if (t->vlen == 0) {
		r->revoked = 1;
		return 0;
	}
	if (b64_decode(t->value, t->vlen, &raw, &rawlen) < 0) {
		*err_r = "p= is not base64";
		return -1;
	}
	if (r->ed25519) {
		if (rawlen == 32)
			r->pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519,
			    NULL, raw, rawlen);
		r->bits = 256;
	} else {
		r->pkey = rsa_pub_parse(raw, rawlen);
		if (r->pkey)
			r->bits = EVP_PKEY_get_bits(r->pkey);
	}
	free(raw);
	if (r->pkey == NULL) {
		*err_r = r->ed25519 ? "p= is not a 32-byte Ed25519 key" :
		    "p= is not an RSA public key";
		return -1;
	}
	return 0;
}

/* dkim_keyrec_free - release the public key */
void dkim_keyrec_free(struct dkim_keyrec *r)
{
	EVP_PKEY_free(r->pkey);
	r->pkey = NULL;
}

/* dkim_keyrec_matches - same public key as the private key k */
int dkim_keyrec_matches(const struct dkim_keyrec *r,
    const struct dkim_key *k)
{
	if (r->pkey == NULL)
		return 0;
	return EVP_PKEY_eq(r->pkey, k->pkey) == 1;
}

/* ----------------------------------------------------- parsed-key cache */

static pthread_mutex_t keycache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct lru *keycache;

/* keycache_free_value - an entry's record */
static void keycache_free_value(void *v)
{
	struct dkim_keyrec *r = v;

	dkim_keyrec_free(r);
	free(r);
}

/*
 * keycache_get - parse txt, or take the parse of the same text from the
 * cache.  The cache key is the record text itself, so a changed record
 * is a new entry and staleness is impossible; failures are not cached.
 */
static int keycache_get(const char *txt, size_t len, struct dkim_keyrec *r,
    const char **err_r)
{
	struct dkim_keyrec *c;

	if (len > DKIM_KEYREC_MAX || memchr(txt, '\0', len) != NULL)
		return dkim_keyrec_parse(txt, len, r, err_r);
	pthread_mutex_lock(&keycache_lock);
	if (keycache == NULL)
		keycache = lru_new(KEYCACHE_MAX, KEYCACHE_MAX * 1024,
		    keycache_free_value);
	c = lru_get(keycache, txt, time(NULL));
	if (c != NULL) {
		*r = *c;
		if (r->pkey)
			EVP_PKEY_up_ref(r->pkey);
		pthread_mutex_unlock(&keycache_lock);
		return 0;
	}
	pthread_mutex_unlock(&keycache_lock);
	if (dkim_keyrec_parse(txt, len, r, err_r) < 0)
		return -1;
	c = xmalloc(sizeof(*c));
	*c = *r;
	if (c->pkey)
		EVP_PKEY_up_ref(c->pkey);
	pthread_mutex_lock(&keycache_lock);
	lru_put(keycache, txt, c, time(NULL) + KEYCACHE_SECS, len + 512);
	pthread_mutex_unlock(&keycache_lock);
	return 0;
}

/* dkim_keycache_flush - forget every parsed key */
void dkim_keycache_flush(void)
{
	pthread_mutex_lock(&keycache_lock);
	lru_free(&keycache);
	pthread_mutex_unlock(&keycache_lock);
}

/* ------------------------------------------------------- canonicalizing */

/* one body hash: a canonicalization, a length limit, a running SHA-256 */
struct hasher {
	enum dkim_canon canon;
	long long limit;		/* -1: whole body */
	long long len;			/* canonical bytes seen */
	EVP_MD_CTX *md;
	unsigned char digest[EVP_MAX_MD_SIZE];
	int done;
};

/* one body canonicalizer feeding the hashers of its kind */
struct canon_state {
	int used;
	int cr;				/* a CR waits for its LF */
	int wsp;			/* relaxed: WSP run pending */
	int line_content;		/* the current line has content */
	int any;			/* anything emitted */
	long long crlfs;		/* line ends not yet emitted */
	unsigned char out[4096];
	size_t outlen;
};

/* hasher_feed - canonical bytes into every hasher of canon c */
static void hashers_feed(struct hasher *h, size_t nh, enum dkim_canon c,
    const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < nh; i++) {
		size_t take = n;

		if (h[i].canon != c)
			continue;
		if (h[i].limit >= 0 && h[i].len + (long long)take > h[i].limit)
			take = h[i].len >= h[i].limit ? 0 :
			    (size_t)(h[i].limit - h[i].len);
		if (take)
			EVP_DigestUpdate(h[i].md, p, take);
		h[i].len += (long long)n;
	}
}

/* canon_flush - the output buffer into the hashers */
static void canon_flush(struct canon_state *cs, struct hasher *h, size_t nh,
    enum dkim_canon c)
{
	if (cs->outlen)
		hashers_feed(h, nh, c, cs->out, cs->outlen);
	cs->outlen = 0;
}

/* canon_put - one output byte */
static void canon_put(struct canon_state *cs, struct hasher *h, size_t nh,
    enum dkim_canon c, unsigned char ch)
{
	if (cs->outlen == sizeof(cs->out))
		canon_flush(cs, h, nh, c);
	cs->out[cs->outlen++] = ch;
}

/* canon_content - a content byte: pending line ends and space first */
static void canon_content(struct canon_state *cs, struct hasher *h,
    size_t nh, enum dkim_canon c, unsigned char ch)
{
	for (; cs->crlfs > 0; cs->crlfs--) {
		canon_put(cs, h, nh, c, '\r');
		canon_put(cs, h, nh, c, '\n');
	}
	if (cs->wsp) {
		canon_put(cs, h, nh, c, ' ');
		cs->wsp = 0;
	}
	canon_put(cs, h, nh, c, ch);
	cs->line_content = cs->any = 1;
}

/* canon_run - ordinary bytes after the first: straight to the output */
static void canon_run(struct canon_state *cs, struct hasher *h, size_t nh,
    enum dkim_canon c, const unsigned char *p, size_t n)
{
	if (n > sizeof(cs->out) - cs->outlen) {
		canon_flush(cs, h, nh, c);
		if (n >= sizeof(cs->out)) {
			hashers_feed(h, nh, c, p, n);
			return;
		}
	}
	memcpy(cs->out + cs->outlen, p, n);
	cs->outlen += n;
}

/*
 * canon_body - run raw body bytes through canonicalization c (RFC 6376
 * 3.4.3, 3.4.4).  Line ends are held back until content follows, which
 * drops empty lines at the end of the body; relaxed also holds WSP runs
 * back as one pending space, which drops WSP at line ends.  Runs of
 * bytes that need no decision (no CR, and no WSP for relaxed) are copied
 * whole: that is most of a body.
 */
static void canon_body(struct canon_state *cs, struct hasher *h, size_t nh,
    enum dkim_canon c, const unsigned char *p, size_t n)
{
	int relaxed = c == DKIM_CANON_RELAXED;

	for (size_t i = 0; i < n; i++) {
		unsigned char ch = p[i];
		size_t j;

		if (cs->cr) {
			cs->cr = 0;
			if (ch == '\n') {
				cs->crlfs++;
				cs->wsp = 0;
				cs->line_content = 0;
				continue;
			}
			canon_content(cs, h, nh, c, '\r');
		}
		if (ch == '\r') {
			cs->cr = 1;
			continue;
		}
		if (relaxed && is_wsp(ch)) {
			cs->wsp = 1;
			continue;
		}
		canon_content(cs, h, nh, c, ch);
		/* a single SP between words is already canonical */
		for (j = i + 1; j < n && p[j] != '\r'; j++)
			if (relaxed && is_wsp(p[j]) && !(p[j] == ' ' &&
			    j + 1 < n && p[j + 1] != '\r' &&
			    !is_wsp(p[j + 1])))
				break;
		if (j > i + 1)
			canon_run(cs, h, nh, c, p + i + 1, j - i - 1);
		i = j - 1;
	}
}

/* canon_end - end of body: the final line end, or simple's empty body */
static void canon_end(struct canon_state *cs, struct hasher *h, size_t nh,
    enum dkim_canon c)
{
	if (cs->cr) {
		cs->cr = 0;
		canon_content(cs, h, nh, c, '\r');
	}
	cs->wsp = 0;
	if (cs->line_content || (cs->crlfs > 0 && cs->any) ||
	    (c == DKIM_CANON_SIMPLE && !cs->any)) {
		canon_put(cs, h, nh, c, '\r');
		canon_put(cs, h, nh, c, '\n');
	}
	canon_flush(cs, h, nh, c);
}

/* header_relaxed - "name:value" relaxed (3.4.2), CRLF added if crlf */
static int header_relaxed(struct buf *out, const char *name,
    const char *value, size_t vlen, int crlf)
{
	size_t nl = strlen(name);
	int wsp = 0, started = 0;

	while (nl > 0 && is_wsp((unsigned char)name[nl - 1]))
		nl--;
	for (size_t i = 0; i < nl; i++)
		if (buf_appendc(out, tolower((unsigned char)name[i])) < 0)
			return -1;
	if (buf_appendc(out, ':') < 0)
		return -1;
	for (size_t i = 0; i < vlen; i++) {
		unsigned char c = (unsigned char)value[i];

		if (c == '\r' || c == '\n')
			continue;
		if (is_wsp(c)) {
			wsp = 1;
			continue;
		}
		if (wsp && started && buf_appendc(out, ' ') < 0)
			return -1;
		wsp = 0;
		started = 1;
		if (buf_appendc(out, c) < 0)
			return -1;
	}
	return crlf ? buf_append(out, "\r\n", 2) : 0;
}

/* header_canon - one field in canonicalization c */
static int header_canon(struct buf *out, enum dkim_canon c,
    const char *name, const char *value, size_t vlen, int crlf)
{
	if (c == DKIM_CANON_RELAXED)
		return header_relaxed(out, name, value, vlen, crlf);
	if (buf_appends(out, name) < 0 || buf_appendc(out, ':') < 0 ||
	    buf_append(out, value, vlen) < 0)
		return -1;
	return crlf ? buf_append(out, "\r\n", 2) : 0;
}

/* ------------------------------------------------------------- messages */

struct hdr {
	size_t name_off, value_off, vlen;
};

struct signer {
	struct dkim_sign_spec spec;
	char *domain, *selector, *identity;
	size_t hasher;
};

struct sigent {
	size_t hdr;			/* index of its field */
	size_t hasher;
	int parsed;			/* parse succeeded: check it */
};

struct dkim_msg {
	struct dkim_msg_opts o;
	struct buf arena;		/* names and values, NUL-separated */
	struct hdr *hdrs;
	size_t nhdrs, hdrs_cap;
	int eoh;
	struct signer signers[DKIM_SIGNERS_MAX];
	size_t nsigners;
	struct dkim_sig_result res[DKIM_SIGS_MAX];
	struct sigent sigs[DKIM_SIGS_MAX];	/* beside res[] */
	size_t nsigs;
	size_t sigs_seen;		/* DKIM-Signature fields in all */
	struct hasher hashers[DKIM_HASHERS_MAX];
	size_t nhashers;
	struct canon_state cs[2];	/* by enum dkim_canon */
	int verified;
};

/* hdr_name / hdr_value - a kept field's parts */
static const char *hdr_name(const struct dkim_msg *m, size_t i)
{
	return m->arena.data + m->hdrs[i].name_off;
}

static const char *hdr_value(const struct dkim_msg *m, size_t i)
{
	return m->arena.data + m->hdrs[i].value_off;
}

/* dkim_msg_new - an empty message */
struct dkim_msg *dkim_msg_new(const struct dkim_msg_opts *o)
{
	struct dkim_msg *m = xcalloc(1, sizeof(*m));

	m->o = *o;
	if (m->o.max_signatures == 0)
		m->o.max_signatures = 5;
	if (m->o.max_signatures > DKIM_SIGS_MAX)
		m->o.max_signatures = DKIM_SIGS_MAX;
	if (m->o.min_rsa_bits == 0)
		m->o.min_rsa_bits = 1024;
	if (m->o.now == 0)
		m->o.now = time(NULL);
	buf_init(&m->arena, DKIM_HDR_BYTES_MAX);
	return m;
}

/* dkim_msg_free - release a message and what it holds */
void dkim_msg_free(struct dkim_msg **mp)
{
	struct dkim_msg *m = *mp;

	if (m == NULL)
		return;
	for (size_t i = 0; i < m->nsigs; i++)
		dkim_sig_free(&m->res[i].sig);
	for (size_t i = 0; i < m->nhashers; i++)
		EVP_MD_CTX_free(m->hashers[i].md);
	for (size_t i = 0; i < m->nsigners; i++) {
		free(m->signers[i].domain);
		free(m->signers[i].selector);
		free(m->signers[i].identity);
	}
	buf_free(&m->arena);
	free(m->hdrs);
	free(m);
	*mp = NULL;
}

/* dkim_msg_header - keep one field */
int dkim_msg_header(struct dkim_msg *m, const char *name, const char *value,
    size_t vlen, const char **err_r)
{
	size_t nlen = strlen(name), noff, voff;

	if (m->eoh) {
		*err_r = "header after end of headers";
		return -1;
	}
	if (nlen == 0 || memchr(value, '\0', vlen) != NULL) {
		*err_r = "empty header name or NUL in header";
		return -1;
	}
	if (m->nhdrs == DKIM_HDR_COUNT_MAX) {
		*err_r = "too many header fields";
		return -1;
	}
	noff = m->arena.len;
	if (buf_append(&m->arena, name, nlen + 1) < 0)
		goto big;
	voff = m->arena.len;
	if (buf_append(&m->arena, value, vlen) < 0 ||
	    buf_appendc(&m->arena, '\0') < 0)
		goto big;
	if (m->nhdrs == m->hdrs_cap) {
		m->hdrs_cap = m->hdrs_cap ? m->hdrs_cap * 2 : 32;
		m->hdrs = xrealloc(m->hdrs, m->hdrs_cap * sizeof(*m->hdrs));
	}
	m->hdrs[m->nhdrs].name_off = noff;
	m->hdrs[m->nhdrs].value_off = voff;
	m->hdrs[m->nhdrs].vlen = vlen;
	m->nhdrs++;
	return 0;
big:
	buf_truncate(&m->arena, noff);
	*err_r = "header fields too large";
	return -1;
}

/* hasher_for - a body hasher for (canon, limit), shared when equal */
static size_t hasher_for(struct dkim_msg *m, enum dkim_canon c,
    long long limit)
{
	struct hasher *h;

	for (size_t i = 0; i < m->nhashers; i++)
		if (m->hashers[i].canon == c && m->hashers[i].limit == limit)
			return i;
	if (m->nhashers == DKIM_HASHERS_MAX)
		return SIZE_MAX;	/* cannot happen: sized for all */
	h = &m->hashers[m->nhashers];
	memset(h, 0, sizeof(*h));
	h->canon = c;
	h->limit = limit;
	h->md = EVP_MD_CTX_new();
	if (h->md == NULL || EVP_DigestInit_ex(h->md, sha256(), NULL) != 1)
		abort();	/* out of memory inside libcrypto */
	m->cs[c].used = 1;
	return m->nhashers++;
}

/* dkim_msg_add_signer - remember a signature to make */
int dkim_msg_add_signer(struct dkim_msg *m, const struct dkim_sign_spec *s,
    const char **err_r)
{
	struct signer *sg;

	if (m->eoh || m->nsigners == DKIM_SIGNERS_MAX) {
		*err_r = m->eoh ? "signer added after the headers" :
		    "too many signatures for one message";
		return -1;
	}
	if (s->key == NULL || s->domain == NULL || s->selector == NULL ||
	    !domain_valid(s->domain) || !domain_valid(s->selector)) {
		*err_r = "signer needs a key and a valid domain and selector";
		return -1;
	}
	sg = &m->signers[m->nsigners++];
	sg->spec = *s;
	sg->domain = xstrdup(s->domain);
	sg->selector = xstrdup(s->selector);
	sg->identity = s->identity ? xstrdup(s->identity) : NULL;
	sg->spec.domain = sg->domain;
	sg->spec.selector = sg->selector;
	sg->spec.identity = sg->identity;
	sg->hasher = SIZE_MAX;
	return 0;
}

/* is_dkim_sig - field name is DKIM-Signature */
static int is_dkim_sig(const char *name)
{
	return strcasecmp(name, "DKIM-Signature") == 0;
}

/* dkim_msg_eoh - parse signatures, set up body hashing */
void dkim_msg_eoh(struct dkim_msg *m)
{
	if (m->eoh)
		return;
	m->eoh = 1;
	for (size_t i = 0; i < m->nsigners; i++)
		m->signers[i].hasher = hasher_for(m,
		    m->signers[i].spec.bcanon, -1);
	if (!m->o.verify)
		return;
	for (size_t i = 0; i < m->nhdrs; i++) {
		struct sigent *se;
		struct dkim_sig_result *r;
		const char *err = NULL;
		enum dkim_result res;

		if (!is_dkim_sig(hdr_name(m, i)))
			continue;
		m->sigs_seen++;
		if (m->nsigs == DKIM_SIGS_MAX)
			continue;	/* counted, not listed */
		r = &m->res[m->nsigs];
		se = &m->sigs[m->nsigs++];
		memset(se, 0, sizeof(*se));
		memset(r, 0, sizeof(*r));
		se->hdr = i;
		se->hasher = SIZE_MAX;
		if (dkim_sig_parse(hdr_value(m, i), m->hdrs[i].vlen,
		    &r->sig, &res, &err) < 0) {
			r->res = res;
			r->reason = err;
			continue;
		}
		if (m->nsigs > m->o.max_signatures) {
			r->res = DKIM_RES_POLICY;
			r->reason = "not checked: too many signatures";
			continue;
		}
		if (r->sig.x >= 0 && r->sig.x < (long long)m->o.now) {
			r->res = DKIM_RES_POLICY;
			r->reason = "signature expired";
			continue;
		}
		if (r->sig.t >= 0 && r->sig.t > (long long)m->o.now +
		    (long long)m->o.clock_skew + 300) {
			r->res = DKIM_RES_POLICY;
			r->reason = "signature timestamp in the future";
			continue;
		}
		se->parsed = 1;
		se->hasher = hasher_for(m, r->sig.bcanon, r->sig.l);
	}
}

/* dkim_msg_body - one chunk of the body */
void dkim_msg_body(struct dkim_msg *m, const void *p, size_t n)
{
	if (!m->eoh)
		dkim_msg_eoh(m);
	for (int c = 0; c < 2; c++)
		if (m->cs[c].used)
			canon_body(&m->cs[c], m->hashers, m->nhashers,
			    (enum dkim_canon)c, p, n);
}

/* body_finish - end the body once and take every digest */
static void body_finish(struct dkim_msg *m)
{
	if (!m->eoh)
		dkim_msg_eoh(m);
	for (int c = 0; c < 2; c++)
		if (m->cs[c].used) {
			canon_end(&m->cs[c], m->hashers, m->nhashers,
			    (enum dkim_canon)c);
			m->cs[c].used = 0;
		}
	for (size_t i = 0; i < m->nhashers; i++) {
		unsigned len = 0;

		if (m->hashers[i].done)
			continue;
		EVP_DigestFinal_ex(m->hashers[i].md, m->hashers[i].digest,
		    &len);
		m->hashers[i].done = 1;
	}
}

/*
 * hash_headers - the fields named in hnames, each name taking the
 * bottom-most instance not used yet (RFC 6376 5.4.2); a name with no
 * instance left contributes nothing (that is how oversigning works).
 */
static int hash_headers(const struct dkim_msg *m, EVP_MD_CTX *md,
    enum dkim_canon c, char *const *hnames, size_t n, size_t skip_hdr,
    struct buf *scratch)
{
	unsigned char used[DKIM_HDR_COUNT_MAX / 8 + 1];

	memset(used, 0, sizeof(used));
	for (size_t k = 0; k < n; k++) {
		for (size_t i = m->nhdrs; i-- > 0; ) {
			if (used[i / 8] & (1u << (i % 8)) || i == skip_hdr ||
			    strcasecmp(hdr_name(m, i), hnames[k]) != 0)
				continue;
			used[i / 8] |= (unsigned char)(1u << (i % 8));
			buf_reset(scratch);
			if (header_canon(scratch, c, hdr_name(m, i),
			    hdr_value(m, i), m->hdrs[i].vlen, 1) < 0)
				return -1;
			EVP_DigestUpdate(md, scratch->data, scratch->len);
			break;
		}
	}
	return 0;
}

/* count_hdr - instances of a field name */
static size_t count_hdr(const struct dkim_msg *m, const char *name)
{
	size_t n = 0;

	for (size_t i = 0; i < m->nhdrs; i++)
		if (strcasecmp(hdr_name(m, i), name) == 0)
			n++;
	return n;
}

/* in_list - name in a list of lowercase names */
static int in_list(const char *name, const char *const *l, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(name, l[i]) == 0)
			return 1;
	return 0;
}

/* fold_append - append s, breaking the line before it if it would pass
 * the fold column; *col tracks the column */
static int fold_append(struct buf *b, const char *s, size_t *col)
{
	size_t n = strlen(s);

	/* never before the first tag: OpenDKIM rebuilds fields as
	   "Name: value", so "DKIM-Signature:" must be followed by exactly
	   one space and the value for simple header canonicalization to
	   verify there */
	if (b->len > 0 && *col + n > DKIM_FOLD_COL) {
		if (buf_appends(b, "\r\n\t") < 0)
			return -1;
		*col = 8;
		while (*s == ' ')
			s++, n--;
	}
	*col += n;
	return buf_append(b, s, n);
}

/* sign_one - one DKIM-Signature value into out */
static int sign_one(struct dkim_msg *m, const struct signer *sg,
    struct buf *out, const char **err_r)
{
	const struct dkim_sign_spec *sp = &sg->spec;
	char *hn[DKIM_HNAMES_MAX];
	size_t nhn = 0, col = sizeof("DKIM-Signature:") - 1;
	struct buf tmp, scratch;
	unsigned char digest[EVP_MAX_MD_SIZE], sig[1024];
	unsigned dlen = 0;
	size_t siglen = sizeof(sig);
	EVP_MD_CTX *md = NULL;
	EVP_PKEY_CTX *pctx = NULL;
	int ed = sp->key->alg == DKIM_ALG_ED25519_SHA256, rc = -1;

	/* h=: each listed name as often as present, oversigned ones once
	   more (a name absent from the message is still oversigned) */
	for (size_t i = 0; i < sp->nsign; i++) {
		size_t cnt = count_hdr(m, sp->sign_headers[i]);

		if (in_list(sp->sign_headers[i], sp->oversign, sp->noversign))
			cnt++;
		for (size_t k = 0; k < cnt && nhn < DKIM_HNAMES_MAX; k++)
			hn[nhn++] = (char *)sp->sign_headers[i];
	}
	for (size_t i = 0; i < sp->noversign; i++)
		if (!in_list(sp->oversign[i], sp->sign_headers, sp->nsign)) {
			size_t cnt = count_hdr(m, sp->oversign[i]) + 1;

			for (size_t k = 0; k < cnt && nhn < DKIM_HNAMES_MAX;
			    k++)
				hn[nhn++] = (char *)sp->oversign[i];
		}
	if (!in_list("from", (const char *const *)hn, nhn)) {
		*err_r = "From is not among the signed headers";
		return -1;
	}
	buf_init(&tmp, 4096);
	buf_init(&scratch, DKIM_HDR_BYTES_MAX);
	buf_reset(out);
	/* tags with b= empty, folded as they will be inserted */
	if (fold_append(out, " v=1;", &col) < 0 ||
	    fold_append(out, ed ? " a=ed25519-sha256;" : " a=rsa-sha256;",
	    &col) < 0)
		goto done;
	buf_appendf(&tmp, " c=%s/%s;",
	    sp->hcanon == DKIM_CANON_RELAXED ? "relaxed" : "simple",
	    sp->bcanon == DKIM_CANON_RELAXED ? "relaxed" : "simple");
	if (fold_append(out, tmp.data, &col) < 0)
		goto done;
	buf_reset(&tmp);
	buf_appendf(&tmp, " d=%s;", sg->domain);
	if (fold_append(out, tmp.data, &col) < 0)
		goto done;
	buf_reset(&tmp);
	buf_appendf(&tmp, " s=%s;", sg->selector);
	if (fold_append(out, tmp.data, &col) < 0)
		goto done;
	if (sg->identity) {
		buf_reset(&tmp);
		buf_appendf(&tmp, " i=%s;", sg->identity);
		if (fold_append(out, tmp.data, &col) < 0)
			goto done;
	}
	buf_reset(&tmp);
	buf_appendf(&tmp, " t=%lld;", (long long)m->o.now);
	if (fold_append(out, tmp.data, &col) < 0)
		goto done;
	if (sp->expire_secs > 0) {
		buf_reset(&tmp);
		buf_appendf(&tmp, " x=%lld;", (long long)m->o.now +
		    sp->expire_secs);
		if (fold_append(out, tmp.data, &col) < 0)
			goto done;
	}
	for (size_t i = 0; i < nhn; i++) {
		buf_reset(&tmp);
		buf_appendf(&tmp, "%s%s%s", i ? "" : " h=", hn[i],
		    i + 1 < nhn ? ":" : ";");
		if (fold_append(out, tmp.data, &col) < 0)
			goto done;
	}
	buf_reset(&tmp);
	buf_appends(&tmp, " bh=");
	b64_encode(&tmp, m->hashers[sg->hasher].digest, 32);
	buf_appendc(&tmp, ';');
	if (fold_append(out, tmp.data, &col) < 0 ||
	    fold_append(out, " b=", &col) < 0)
		goto done;
	/* header hash: selected fields, then this field without CRLF */
	md = EVP_MD_CTX_new();
	if (md == NULL || EVP_DigestInit_ex(md, sha256(), NULL) != 1 ||
	    hash_headers(m, md, sp->hcanon, hn, nhn, SIZE_MAX,
	    &scratch) < 0) {
		*err_r = "header hashing failed";
		goto done;
	}
	buf_reset(&scratch);
	if (header_canon(&scratch, sp->hcanon, "DKIM-Signature", out->data,
	    out->len, 0) < 0)
		goto done;
	EVP_DigestUpdate(md, scratch.data, scratch.len);
	EVP_DigestFinal_ex(md, digest, &dlen);
	if (ed) {
		EVP_MD_CTX_reset(md);
		if (EVP_DigestSignInit(md, NULL, NULL, NULL,
		    sp->key->pkey) != 1 ||
		    EVP_DigestSign(md, sig, &siglen, digest, dlen) != 1) {
			*err_r = "Ed25519 signing failed";
			goto done;
		}
	} else {
		pctx = EVP_PKEY_CTX_new(sp->key->pkey, NULL);
		if (pctx == NULL || EVP_PKEY_sign_init(pctx) != 1 ||
		    EVP_PKEY_CTX_set_rsa_padding(pctx,
		    RSA_PKCS1_PADDING) != 1 ||
		    EVP_PKEY_CTX_set_signature_md(pctx, sha256()) != 1 ||
		    EVP_PKEY_sign(pctx, sig, &siglen, digest, dlen) != 1) {
			*err_r = "RSA signing failed";
			goto done;
		}
	}
	/* b= folded in pieces that fill the line */
	buf_reset(&tmp);
	b64_encode(&tmp, sig, siglen);
	for (size_t off = 0; off < tmp.len; ) {
		size_t room = col < DKIM_FOLD_COL ? DKIM_FOLD_COL - col : 0;

		if (room == 0) {
			if (buf_appends(out, "\r\n\t") < 0)
				goto done;
			col = 8;
			continue;
		}
		if (room > tmp.len - off)
			room = tmp.len - off;
		if (buf_append(out, tmp.data + off, room) < 0)
			goto done;
		off += room;
		col += room;
	}
	rc = 0;
done:
	if (rc < 0 && *err_r == NULL)
		*err_r = "signature field too long";
	EVP_MD_CTX_free(md);
	EVP_PKEY_CTX_free(pctx);
	buf_free(&tmp);
	buf_free(&scratch);
	return rc;
}

/* dkim_msg_sign - every signer's DKIM-Signature value */
int dkim_msg_sign(struct dkim_msg *m, struct buf *out, size_t nout,
    const char **err_r)
{
	body_finish(m);
	if (nout < m->nsigners) {
		*err_r = "fewer output buffers than signers";
		return -1;
	}
	for (size_t i = 0; i < m->nsigners; i++) {
		*err_r = NULL;
		if (sign_one(m, &m->signers[i], &out[i], err_r) < 0)
			return -1;
	}
	return 0;
}

/* key_name - "SELECTOR._domainkey.DOMAIN" */
static int key_name(const struct dkim_sig *s, char *out, size_t len)
{
	int n = snprintf(out, len, "%s._domainkey.%s", s->selector,
	    s->domain);

	return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* identity_domain - the domain part of i= */
static const char *identity_domain(const struct dkim_sig *s)
{
	const char *at = strrchr(s->identity, '@');

	return at ? at + 1 : s->domain;
}

/* verify_crypto - the header hash against b= with the record's key */
static int verify_crypto(const struct dkim_sig *s,
    const struct dkim_keyrec *k, const unsigned char *digest,
    unsigned dlen)
{
	int ok = 0;

	if (k->ed25519) {
		EVP_MD_CTX *md = EVP_MD_CTX_new();

		ok = md && EVP_DigestVerifyInit(md, NULL, NULL, NULL,
		    k->pkey) == 1 && EVP_DigestVerify(md, s->b, s->blen,
		    digest, dlen) == 1;
		EVP_MD_CTX_free(md);
	} else {
		EVP_PKEY_CTX *p = EVP_PKEY_CTX_new(k->pkey, NULL);

		ok = p && EVP_PKEY_verify_init(p) == 1 &&
		    EVP_PKEY_CTX_set_rsa_padding(p, RSA_PKCS1_PADDING) == 1 &&
		    EVP_PKEY_CTX_set_signature_md(p, sha256()) == 1 &&
		    EVP_PKEY_verify(p, s->b, s->blen, digest, dlen) == 1;
		EVP_PKEY_CTX_free(p);
	}
	return ok;
}

/* verify_one - check one parsed signature; sets se->r */
static void verify_one(struct dkim_msg *m, size_t idx, dkim_lookup_fn *fn,
    void *arg, struct buf *txt, struct buf *scratch)
{
	const struct sigent *se = &m->sigs[idx];
	struct dkim_sig_result *r = &m->res[idx];
	const struct dkim_sig *s = &r->sig;
	const struct hasher *h = &m->hashers[se->hasher];
	struct dkim_keyrec key;
	char name[DKIM_SELECTOR_MAX + DKIM_DOMAIN_MAX + 16];
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned dlen = 0;
	const char *err;
	EVP_MD_CTX *md;

	if (s->l >= 0 && s->l > h->len) {
		r->res = DKIM_RES_FAIL;
		r->reason = "l= is longer than the body";
		return;
	}
	if (s->bhlen != 32 || memcmp(s->bh, h->digest, 32) != 0) {
		r->res = DKIM_RES_FAIL;
		r->reason = "body hash did not verify";
		return;
	}
	if (key_name(s, name, sizeof(name)) < 0) {
		r->res = DKIM_RES_PERMERROR;
		r->reason = "key name too long";
		return;
	}
	r->looked_up = 1;
	r->lookup = fn(arg, name, txt);
	if (r->lookup == DKIM_LOOKUP_TEMPFAIL) {
		r->res = DKIM_RES_TEMPERROR;
		r->reason = "key lookup failed";
		return;
	}
	if (r->lookup == DKIM_LOOKUP_NOTFOUND) {
		r->res = DKIM_RES_PERMERROR;
		r->reason = "no key for signature";
		return;
	}
	if (keycache_get(txt->data, txt->len, &key, &err) < 0) {
		r->res = DKIM_RES_PERMERROR;
		r->reason = err;	/* static text */
		return;
	}
	r->key_bits = key.bits;
	r->testing = key.testing;
	if (key.revoked) {
		r->res = DKIM_RES_PERMERROR;
		r->reason = "key revoked";
	} else if (key.ed25519 != (s->alg == DKIM_ALG_ED25519_SHA256)) {
		r->res = DKIM_RES_PERMERROR;
		r->reason = "key type does not match a=";
	} else if (!key.sha256_ok) {
		r->res = DKIM_RES_PERMERROR;
		r->reason = "key does not allow sha256 (h=)";
	} else if (key.strict &&
	    strcasecmp(identity_domain(s), s->domain) != 0) {
		r->res = DKIM_RES_PERMERROR;
		r->reason = "key is strict (t=s) and i= is a subdomain";
	} else if (!key.ed25519 && key.bits < m->o.min_rsa_bits) {
		r->res = DKIM_RES_FAIL;
		r->reason = "RSA key too short (RFC 8301)";
	} else {
		md = EVP_MD_CTX_new();
		if (md == NULL || EVP_DigestInit_ex(md, sha256(), NULL) != 1 ||
		    hash_headers(m, md, s->hcanon, s->hnames, s->nhnames,
		    se->hdr, scratch) < 0) {
			EVP_MD_CTX_free(md);
			r->res = DKIM_RES_PERMERROR;
			r->reason = "header hashing failed";
			dkim_keyrec_free(&key);
			return;
		}
		/* this signature's own field, b= emptied, no CRLF */
		{
			const char *v = hdr_value(m, se->hdr);
			size_t vlen = m->hdrs[se->hdr].vlen;
			struct buf nob;

			buf_init(&nob, vlen + 1);
			buf_append(&nob, v, s->b_off);
			buf_append(&nob, v + s->b_off + s->b_len,
			    vlen - s->b_off - s->b_len);
			buf_reset(scratch);
			header_canon(scratch, s->hcanon, hdr_name(m, se->hdr),
			    nob.data, nob.len, 0);
			buf_free(&nob);
		}
		EVP_DigestUpdate(md, scratch->data, scratch->len);
		EVP_DigestFinal_ex(md, digest, &dlen);
		EVP_MD_CTX_free(md);
		if (verify_crypto(s, &key, digest, dlen)) {
			r->res = DKIM_RES_PASS;
			r->reason = NULL;
		} else {
			r->res = DKIM_RES_FAIL;
			r->reason = "signature did not verify";
		}
	}
	dkim_keyrec_free(&key);
}

/* dkim_msg_verify - every signature examined */
void dkim_msg_verify(struct dkim_msg *m, dkim_lookup_fn *fn, void *arg)
{
	struct buf txt, scratch;

	body_finish(m);
	if (m->verified)
		return;
	m->verified = 1;
	buf_init(&txt, DKIM_KEYREC_MAX);
	buf_init(&scratch, DKIM_HDR_BYTES_MAX);
	for (size_t i = 0; i < m->nsigs; i++)
		if (m->sigs[i].parsed)
			verify_one(m, i, fn, arg, &txt, &scratch);
	buf_free(&txt);
	buf_free(&scratch);
}

/* dkim_msg_results - per-signature results */
const struct dkim_sig_result *dkim_msg_results(const struct dkim_msg *m,
    size_t *n_r)
{
	*n_r = m->nsigs;
	return m->res;
}

/* dkim_msg_outcome - what the On-* actions key on */
enum dkim_outcome dkim_msg_outcome(const struct dkim_msg *m)
{
	int dns = 0, nokey = 0;

	if (m->sigs_seen == 0)
		return DKIM_OUT_NOSIG;
	for (size_t i = 0; i < m->nsigs; i++) {
		const struct dkim_sig_result *r = &m->res[i];

		if (r->res == DKIM_RES_PASS)
			return DKIM_OUT_GOOD;
		if (r->res == DKIM_RES_TEMPERROR)
			dns = 1;
		else if (r->looked_up && r->lookup == DKIM_LOOKUP_NOTFOUND)
			nokey = 1;
	}
	if (dns)
		return DKIM_OUT_DNSERROR;
	for (size_t i = 0; i < m->nsigs; i++) {
		const struct dkim_sig_result *r = &m->res[i];

		if (!(r->looked_up && r->lookup == DKIM_LOOKUP_NOTFOUND) &&
		    r->res != DKIM_RES_POLICY)
			return DKIM_OUT_BADSIG;
	}
	return nokey ? DKIM_OUT_NOKEY : DKIM_OUT_BADSIG;
}

static const char *const result_names[] = { "none", "pass", "fail",
    "neutral", "policy", "temperror", "permerror" };

/* dkim_result_name - RFC 8601 result keyword */
const char *dkim_result_name(enum dkim_result r)
{
	return (size_t)r < sizeof(result_names) / sizeof(result_names[0]) ?
	    result_names[r] : "permerror";
}

/* dkim_result_parse - RFC 8601 result keyword (any case) to result */
int dkim_result_parse(const char *s, enum dkim_result *r_r)
{
	for (size_t i = 0; i < sizeof(result_names) / sizeof(result_names[0]);
	    i++)
		if (strcasecmp(s, result_names[i]) == 0) {
			*r_r = (enum dkim_result)i;
			return 0;
		}
	return -1;
}

/* dkim_outcome_name - for logs */
const char *dkim_outcome_name(enum dkim_outcome o)
{
	static const char *const names[] = { "good", "nosignature",
	    "badsignature", "dnserror", "keynotfound" };

	return (size_t)o < sizeof(names) / sizeof(names[0]) ? names[o] :
	    "badsignature";
}

/* dkim_msg_authres - "; dkim=..." per signature, or "; dkim=none" */
int dkim_msg_authres(const struct dkim_msg *m, struct buf *b)
{
	if (m->nsigs == 0)
		return buf_appends(b, "; dkim=none");
	for (size_t i = 0; i < m->nsigs; i++) {
		const struct dkim_sig_result *r = &m->res[i];
		const struct dkim_sig *s = &r->sig;

		if (buf_appendf(b, "; dkim=%s", dkim_result_name(r->res)) < 0)
			return -1;
		if (r->key_bits && r->res == DKIM_RES_PASS &&
		    buf_appendf(b, " (%d-bit %s key%s)", r->key_bits,
		    s->alg == DKIM_ALG_ED25519_SHA256 ? "ed25519" : "rsa",
		    r->testing ? ", testing" : "") < 0)
			return -1;
		if (r->reason && (buf_appends(b, " reason=") < 0 ||
		    hdr_value_append(b, r->reason) < 0))
			return -1;
		if (s->domain[0] && authres_prop(b, "header.d", s->domain) < 0)
			return -1;
		if (s->identity[0] && r->res == DKIM_RES_PASS &&
		    authres_prop_addr(b, "header.i", s->identity) < 0)
			return -1;
		if (s->selector[0] &&
		    authres_prop(b, "header.s", s->selector) < 0)
			return -1;
		if (s->bprefix[0] &&
		    authres_prop(b, "header.b", s->bprefix) < 0)
			return -1;
	}
	return 0;
}
