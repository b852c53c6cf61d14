/*
 * dkim.h - DKIM signing and verifying engine (RFC 6376), with Ed25519
 *          (RFC 8463) and the RFC 8301 crypto rules.
 *
 * Public:
 *   keys      dkim_key_load, dkim_key_from_pem, dkim_key_free,
 *             dkim_key_alg, dkim_key_bits, dkim_key_record,
 *             dkim_keyfile_check
 *   records   dkim_keyrec_parse, dkim_keyrec_free, dkim_keyrec_matches
 *   messages  dkim_msg_new, dkim_msg_free, dkim_msg_header,
 *             dkim_msg_eoh, dkim_msg_body, dkim_msg_add_signer,
 *             dkim_msg_sign, dkim_msg_verify, dkim_msg_results,
 *             dkim_msg_authres, dkim_msg_outcome
 *   parsing   dkim_sig_parse (DKIM-Signature tag list), dkim_canon_parse,
 *             dkim_result_name, dkim_result_parse, dkim_outcome_name
 * Trust: header fields, bodies, DKIM-Signature values and DNS key records
 *        are hostile peer data.  Every parser is bounded: tag count,
 *        h= entries (DKIM_HNAMES_MAX), signatures examined per message
 *        (dkim_msg_opts.max_signatures), base64 sizes, l= digits.  Keys
 *        and signing specs are admin data.
 * Errors: a signature that cannot be checked is a result (neutral,
 *         permerror, temperror...), never an error of the engine; calls
 *         that can fail return 0 or -1 with *err_r set.
 *
 * Threads: a struct dkim_msg belongs to one thread (one milter
 * connection).  Keys (struct dkim_key) are immutable once loaded and may
 * be shared by any number of threads.  The parsed-key cache behind
 * dkim_msg_verify is shared and locked.
 *
 * Crypto is OpenSSL (libcrypto) directly: private keys are parsed once
 * (at start or reload), never per message; Ed25519 signs the SHA-256 of
 * the canonicalized header data as RFC 8463 says, so both header
 * canonicalizations work with both algorithms.
 *
 * Header input is one field at a time: the name as received and the raw
 * value after the colon (leading space included, folds as CRLF), so the
 * "simple" canonicalization sees exactly the bytes of the message.  Body
 * input is the body in chunks with CRLF line ends, as the milter
 * protocol delivers it.
 */
#ifndef POSTERN_DKIM_H
#define POSTERN_DKIM_H

#include <stddef.h>
#include <time.h>

#include "buf.h"

enum dkim_alg {
	DKIM_ALG_RSA_SHA256,
	DKIM_ALG_ED25519_SHA256,
	DKIM_ALG_RSA_SHA1,		/* verify only, and always a failure */
};

enum dkim_canon {
	DKIM_CANON_SIMPLE,
	DKIM_CANON_RELAXED,
};

/* per-signature result, RFC 8601 section 2.7.1 */
enum dkim_result {
	DKIM_RES_NONE,		/* only as a message outcome: no signature */
	DKIM_RES_PASS,
	DKIM_RES_FAIL,		/* did not verify, rsa-sha1, short RSA key */
	DKIM_RES_NEUTRAL,	/* syntax errors in the signature */
	DKIM_RES_POLICY,	/* verifiable but refused: expired, over cap */
	DKIM_RES_TEMPERROR,	/* key lookup SERVFAIL / timeout */
	DKIM_RES_PERMERROR,	/* no key, bad key record, revoked, i/d */
};

/* what the milter's On-* actions are keyed by */
enum dkim_outcome {
	DKIM_OUT_GOOD,		/* at least one signature passed */
	DKIM_OUT_NOSIG,		/* no DKIM-Signature */
	DKIM_OUT_BADSIG,	/* signatures, none passed, one bad */
	DKIM_OUT_DNSERROR,	/* no pass; a key lookup failed temporarily */
	DKIM_OUT_NOKEY,		/* no pass; key not found (NXDOMAIN/no TXT) */
};

#define DKIM_HNAMES_MAX		64	/* h= entries we accept */
#define DKIM_SIGS_MAX		16	/* hard cap on signatures examined */
#define DKIM_SIG_HEADER_MAX	8192	/* a DKIM-Signature field we parse */
#define DKIM_KEYREC_MAX		4096	/* a key record we parse */
#define DKIM_SELECTOR_MAX	63
#define DKIM_DOMAIN_MAX		253
#define DKIM_BPREFIX_LEN	8	/* header.b= prefix (RFC 6008) */

/* ----------------------------------------------------------------- keys */

struct dkim_key;		/* a private key, parsed once */

/*
 * dkim_keyfile_check - a key file must be private to its owner: returns 0
 * when safe, -1 with *err_r naming the problem (group/world bits, not a
 * regular file).
 */
int dkim_keyfile_check(const char *path, const char **err_r);
/* dkim_key_load - read and parse a PEM private key file (RSA or Ed25519) */
struct dkim_key *dkim_key_load(const char *path, const char **err_r);
struct dkim_key *dkim_key_from_pem(const char *pem, size_t len,
    const char **err_r);
void dkim_key_free(struct dkim_key **kp);
enum dkim_alg dkim_key_alg(const struct dkim_key *k);
int dkim_key_bits(const struct dkim_key *k);
/* dkim_key_record - the DNS TXT value ("v=DKIM1; k=...; p=...") */
int dkim_key_record(const struct dkim_key *k, struct buf *out);

/* a parsed DNS key record (RFC 6376 section 3.6.1) */
struct dkim_keyrec {
	int ed25519;			/* k=ed25519, else rsa */
	int revoked;			/* p= empty */
	int testing;			/* t=y */
	int strict;			/* t=s: i= domain must equal d= */
	int sha256_ok;			/* h= absent or lists sha256 */
	int sha1_ok;
	int bits;			/* RSA modulus bits, 256 for Ed25519 */
	void *pkey;			/* EVP_PKEY *, NULL when revoked */
};

int dkim_keyrec_parse(const char *txt, size_t len, struct dkim_keyrec *r,
    const char **err_r);
void dkim_keyrec_free(struct dkim_keyrec *r);
/* dkim_keyrec_matches - 1 if the record's public key is k's, else 0 */
int dkim_keyrec_matches(const struct dkim_keyrec *r,
    const struct dkim_key *k);

/* ------------------------------------------------------------ signature */

struct dkim_sig {
	enum dkim_alg alg;
	enum dkim_canon hcanon, bcanon;
	char domain[DKIM_DOMAIN_MAX + 1];	/* d=, lowercased */
	char selector[DKIM_SELECTOR_MAX + 1];	/* s= */
	char identity[DKIM_DOMAIN_MAX + 66];	/* i=, or "@d" */
	char bprefix[DKIM_BPREFIX_LEN + 1];	/* first chars of b= */
	char *hnames[DKIM_HNAMES_MAX];		/* h=, lowercased */
	size_t nhnames;
	unsigned char *b, *bh;			/* decoded */
	size_t blen, bhlen;
	long long l;				/* -1: whole body */
	long long t, x;				/* -1: absent */
	size_t b_off, b_len;	/* b= value's place in the raw field */
};

/*
 * dkim_sig_parse - parse a DKIM-Signature value (the text after the
 * colon).  0 and *sig filled; -1 with *err_r and *res_r the result the
 * signature gets (neutral for syntax, permerror, fail for rsa-sha1).
 * dkim_sig_free releases what a successful parse allocated.
 */
int dkim_sig_parse(const char *value, size_t len, struct dkim_sig *sig,
    enum dkim_result *res_r, const char **err_r);
void dkim_sig_free(struct dkim_sig *sig);
/* dkim_canon_parse - "relaxed/simple" etc.; 0 or -1 */
int dkim_canon_parse(const char *s, enum dkim_canon *h_r,
    enum dkim_canon *b_r);

/* ------------------------------------------------------------- messages */

/* key lookup for verification: the TXT record at NAME */
enum dkim_lookup_status {
	DKIM_LOOKUP_FOUND,	/* *txt_r holds the TXT strings joined */
	DKIM_LOOKUP_NOTFOUND,	/* NXDOMAIN or no TXT */
	DKIM_LOOKUP_TEMPFAIL,	/* SERVFAIL, timeout, local error */
};
typedef enum dkim_lookup_status dkim_lookup_fn(void *arg, const char *name,
    struct buf *txt_r);

struct dkim_msg_opts {
	int verify;			/* collect and check signatures */
	size_t max_signatures;		/* checked; 0 = 5; at most SIGS_MAX */
	time_t now;			/* 0 = time(NULL) */
	unsigned clock_skew;		/* seconds allowed for t= in future */
	int min_rsa_bits;		/* 0 = 1024 (RFC 8301) */
};

struct dkim_sign_spec {
	const char *domain;		/* d= */
	const char *selector;		/* s= */
	const char *identity;		/* i=, or NULL */
	const struct dkim_key *key;	/* decides a= */
	enum dkim_canon hcanon, bcanon;
	const char *const *sign_headers;	/* lowercase names */
	size_t nsign;
	const char *const *oversign;	/* names signed once more */
	size_t noversign;
	long long expire_secs;		/* x= = t= + this; 0 = no x= */
};

struct dkim_sig_result {
	enum dkim_result res;
	const char *reason;		/* static text, or NULL */
	int key_bits;			/* 0 when no key was read */
	int testing;			/* key has t=y */
	enum dkim_lookup_status lookup;	/* when a lookup was done */
	int looked_up;
	struct dkim_sig sig;		/* valid fields even on failure:
					   domain, selector, bprefix may
					   be empty */
};

struct dkim_msg;

struct dkim_msg *dkim_msg_new(const struct dkim_msg_opts *o);
void dkim_msg_free(struct dkim_msg **mp);
/*
 * dkim_msg_header - one header field in message order; value is the raw
 * text after the colon.  -1 (with *err_r) on a field that cannot be
 * taken (embedded NUL, over DKIM_SIG_HEADER_MAX for a DKIM-Signature is
 * not an error: that signature becomes neutral).
 */
int dkim_msg_header(struct dkim_msg *m, const char *name, const char *value,
    size_t vlen, const char **err_r);
/* dkim_msg_add_signer - sign with spec at the end (before the body) */
int dkim_msg_add_signer(struct dkim_msg *m, const struct dkim_sign_spec *s,
    const char **err_r);
/* dkim_msg_eoh - headers done: parse signatures, set up body hashes */
void dkim_msg_eoh(struct dkim_msg *m);
void dkim_msg_body(struct dkim_msg *m, const void *p, size_t n);
/*
 * dkim_msg_sign - the DKIM-Signature values, one per signer, in the order
 * added, each into out[i]: the raw value after the colon as
 * dkim_msg_header takes it, so with its leading space, folded with
 * CRLF TAB.  The signature covers "DKIM-Signature:" + out[i] exactly
 * (what "simple" header canonicalization sees), so the adapter must
 * insert it byte for byte (an MTA that adds its own space after the
 * colon gets out[i] + 1; lines end in LF inside the MTA).
 */
int dkim_msg_sign(struct dkim_msg *m, struct buf *out, size_t nout,
    const char **err_r);
/* dkim_msg_verify - check the signatures, looking keys up with fn */
void dkim_msg_verify(struct dkim_msg *m, dkim_lookup_fn *fn, void *arg);
const struct dkim_sig_result *dkim_msg_results(const struct dkim_msg *m,
    size_t *n_r);
enum dkim_outcome dkim_msg_outcome(const struct dkim_msg *m);
/*
 * dkim_msg_authres - append "dkim=RESULT ... header.d=... header.s=...
 * header.b=..." method specs (";"-separated, or "dkim=none") to an
 * Authentication-Results value begun with authres_begin.
 */
int dkim_msg_authres(const struct dkim_msg *m, struct buf *b);

const char *dkim_result_name(enum dkim_result r);
int dkim_result_parse(const char *s, enum dkim_result *r_r);
const char *dkim_outcome_name(enum dkim_outcome o);

/* dkim_keycache_flush - drop parsed public keys (tests, reload) */
void dkim_keycache_flush(void);

#endif
