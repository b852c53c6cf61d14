/*
 * mimescan.c - a message cut into Postfix's header/body check items; see
 *              mimescan.h for the model.
 *
 * Public: mimescan_new, mimescan_free, mimescan_header, mimescan_body,
 *         mimescan_end, mimescan_stopped, mime_hdr_is_mime,
 *         mime_decode_2047.
 * Trust: every byte is peer data (the SMTP client wrote the message).
 * RFCs: 5322 (header fields, folding), 2045 (Content-Type parameters,
 *       base64, quoted-printable), 2046 (multipart boundaries,
 *       message/rfc822), 2047 (encoded words), 2231 (charset*language).
 * Errors: none; MIME anomalies become MIMESCAN_E_* flags.
 *
 * The state machine follows the one Postfix documents for cleanup(8)
 * (mime_state(3)): a header block (primary, after a boundary, or at the
 * start of a message/rfc822 part) runs until the empty line; a line that
 * is neither a header nor a continuation ends the block and is body; in
 * body state a line starting with "--" is compared with every boundary
 * on the stack, innermost first, as a prefix (Postfix ignores cruft after
 * the boundary, as many MUAs do); an outer boundary closes the inner
 * multiparts.  It is written from that description and RFC 2045/2046.
 *
 * Memory is bounded by the options: one line (line_length_limit), one
 * logical header (header_size_limit), the boundary stack (nesting_limit
 * entries of at most MIMESCAN_BOUNDARY_MAX bytes), the decoded text of
 * one part (body_size_limit).  No recursion anywhere; the work per input
 * byte is bounded by the stack depth (boundary comparison), so a scan is
 * O(n) for a given configuration.
 */
#include <ctype.h>
#include <errno.h>
#include <iconv.h>
#include <string.h>
#include <strings.h>

#include "mimescan.h"
#include "xalloc.h"

#define MIMESCAN_LINE_DEFAULT	2048	/* line_length_limit */
#define MIMESCAN_HEADER_DEFAULT	102400	/* header_size_limit */
#define MIMESCAN_BODY_DEFAULT	51200	/* body_checks_size_limit */
#define MIMESCAN_NESTING_DEFAULT 100	/* mime_nesting_limit */

#define MIME_CHARSET_MAX	64	/* charset name in an encoded word */
#define MIME_ICONV_CACHE	4	/* charsets open at once per decode */
#define QP_WS_MAX		128	/* held trailing white space in QP */

enum { ST_PRIMARY, ST_MULTIPART, ST_NESTED, ST_BODY };
enum { CT_OTHER, CT_TEXT, CT_MESSAGE, CT_MULTIPART };
enum { SUB_OTHER, SUB_RFC822 };
enum { ENC_7BIT, ENC_8BIT, ENC_BINARY, ENC_QP, ENC_B64 };

struct mimescan_bound {
	char *s;		/* boundary, at most MIMESCAN_BOUNDARY_MAX */
	size_t len;
	int digest;		/* multipart/digest: parts default rfc822 */
};

struct mimescan {
	struct mimescan_options o;	/* with defaults filled in */
	mimescan_fn *fn;
	void *arg;
	int stopped, ended;
	unsigned errs;

	int state;		/* ST_* */
	int ctype, stype, enc;	/* of the entity being read */
	size_t nprimary;	/* primary header fields seen */

	struct mimescan_bound *stack;	/* multipart boundaries */
	unsigned depth;

	char *line;		/* current physical line, chunked */
	char *dline;		/* one decoded line, NUL-terminated */
	size_t llen;
	size_t chunk_off;	/* stream offset of line[0] */
	int line_cont;		/* a chunk of this line went out already */
	int cr_pending;		/* a CR was the last byte seen */

	struct buf hdr;		/* logical header being collected */
	int hdr_on;
	size_t hdr_name_len;
	size_t hdr_off, hdr_end;
	struct buf tmp;		/* decoded header copy */

	size_t seg_off;		/* bytes into the current body segment */
	int dec_on;		/* this segment is decoded */
	int dec_kind;		/* ENC_QP or ENC_B64 */
	struct buf dec;		/* decoded text of the segment */
	unsigned long b64acc;
	int b64n;
	int qpst;		/* 0 text, 1 "=", 2 "=X", 3 "=" + blanks */
	char qpx;
	char qpws[QP_WS_MAX];
	size_t nqpws;
};

/* bput - append at most max - len bytes; 1 if some were cut */
static int bput(struct buf *b, const void *p, size_t n, size_t max)
{
	size_t room;

	if (max > b->max)
		max = b->max;
	room = b->len < max ? max - b->len : 0;
	if (n <= room) {
		buf_append(b, p, n);
		return 0;
	}
	buf_append(b, p, room);
	return 1;
}

/* emit - hand one item to the caller; remember a request to stop */
static void emit(struct mimescan *m, struct mimescan_item *it)
{
	if (m->stopped)
		return;
	it->depth = m->depth;
	if (m->fn(m->arg, it) != 0)
		m->stopped = 1;
}

/* ---------------------------------------------------------- RFC 2047 */

struct cs_cache {
	char name[MIME_CHARSET_MAX + 1];
	iconv_t cd;		/* (iconv_t)-1: unknown charset */
};

struct dec2047 {
	const char *s;
	size_t len;
	size_t q_from, q_at;	/* no '?' in [q_from, q_at) */
	size_t w_from, w_at;	/* no blank in [w_from, w_at) */
	struct cs_cache cache[MIME_ICONV_CACHE];
	unsigned ncache, next;
	iconv_t pinned;		/* the run being collected: not evicted */
	int broken;
};

struct ew {			/* one encoded word */
	size_t start, end;	/* "=?" .. after "?=" */
	size_t cs, cslen;	/* charset (language dropped) */
	size_t text, textlen;
	char enc;		/* 'B' or 'Q' */
	iconv_t cd;
};

/* is_lwsp - white space that may separate or fold encoded words */
static int is_lwsp(int c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* next_q - first '?' at or after i (memoised: queries only go forward) */
static size_t next_q(struct dec2047 *d, size_t i)
{
	if (i >= d->q_from && i <= d->q_at)
		return d->q_at;
	d->q_from = i;
	while (i < d->len && d->s[i] != '?')
		i++;
	return d->q_at = i;
}

/* next_blank - first white space at or after i (memoised likewise) */
static size_t next_blank(struct dec2047 *d, size_t i)
{
	if (i >= d->w_from && i <= d->w_at)
		return d->w_at;
	d->w_from = i;
	while (i < d->len && !is_lwsp((unsigned char)d->s[i]))
		i++;
	return d->w_at = i;
}

/* charset_open - iconv descriptor for a charset name, cached per call */
static iconv_t charset_open(struct dec2047 *d, const char *name, size_t n)
{
	struct cs_cache *c;
	unsigned i;

	for (i = 0; i < d->ncache; i++) {
		c = &d->cache[i];
		if (strlen(c->name) == n && strncasecmp(c->name, name, n) == 0)
			return c->cd;
	}
	if (d->ncache < MIME_ICONV_CACHE) {
		c = &d->cache[d->ncache++];
	} else {
		do {
			c = &d->cache[d->next];
			d->next = (d->next + 1) % MIME_ICONV_CACHE;
		} while (c->cd == d->pinned && c->cd != (iconv_t)-1);
		if (c->cd != (iconv_t)-1)
			iconv_close(c->cd);
	}
	memcpy(c->name, name, n);
	c->name[n] = '\0';
	c->cd = iconv_open("UTF-8", c->name);
	return c->cd;
}

/* ew_parse - is there a well-formed encoded word with a known charset
 * at i?  Fills w; the text is checked by ew_decode. */
static int ew_parse(struct dec2047 *d, size_t i, struct ew *w)
{
	const char *s = d->s;
	size_t p, q, cs_end;

	if (i + 2 > d->len || s[i] != '=' || s[i + 1] != '?')
		return 0;
	w->start = i;
	w->cs = i + 2;
	q = next_q(d, w->cs);
	if (q >= d->len || q == w->cs || next_blank(d, w->cs) < q)
		return 0;
	/* RFC 2231 section 5: charset*language */
	for (cs_end = w->cs; cs_end < q && s[cs_end] != '*'; cs_end++)
		;
	w->cslen = cs_end - w->cs;
	if (w->cslen == 0 || w->cslen > MIME_CHARSET_MAX)
		return 0;
	/* RFC 2978 mime-charset characters only: no "//" iconv suffixes */
	for (p = w->cs; p < cs_end; p++)
		if (!isalnum((unsigned char)s[p]) && (s[p] == '\0' ||
		    strchr("!#$%&'+-^_`{}~", s[p]) == NULL))
			return 0;
	if (q + 3 > d->len || s[q + 2] != '?')
		return 0;
	w->enc = s[q + 1] == 'b' ? 'B' : s[q + 1] == 'q' ? 'Q' : s[q + 1];
	if (w->enc != 'B' && w->enc != 'Q')
		return 0;
	w->text = q + 3;
	p = next_q(d, w->text);
	if (p + 1 >= d->len || s[p + 1] != '=' ||
	    next_blank(d, w->text) < p)
		return 0;
	w->textlen = p - w->text;
	w->end = p + 2;
	w->cd = charset_open(d, s + w->cs, w->cslen);
	return w->cd != (iconv_t)-1;
}

/* ew_decode - the bytes of word w appended to raw; -1 if it is broken */
static int ew_decode(struct dec2047 *d, const struct ew *w, struct buf *raw,
    size_t max)
{
	const char *t = d->s + w->text;
	size_t i, n = w->textlen;
	unsigned long acc = 0;
	int bits = 0, v, h, l;
	size_t start = raw->len;
	char c;

	for (i = 0; i < n; i++) {
		if (w->enc == 'Q') {
			if (t[i] == '_') {
				c = ' ';
			} else if (t[i] == '=') {
				if (i + 2 >= n ||
				    (h = hex_value((unsigned char)t[i + 1])) < 0 ||
				    (l = hex_value((unsigned char)t[i + 2])) < 0)
					goto broken;
				c = (char)(h << 4 | l);
				i += 2;
			} else {
				c = t[i];
			}
			bput(raw, &c, 1, max);
			continue;
		}
		if (t[i] == '=') {
			for (; i < n; i++)
				if (t[i] != '=')
					goto broken;
			break;
		}
		if ((v = b64_value((unsigned char)t[i])) < 0)
			goto broken;
		acc = (acc << 6 | (unsigned long)v) & 0xffffff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			c = (char)(acc >> bits);
			bput(raw, &c, 1, max);
		}
	}
	if (w->enc == 'B' && bits >= 6)
		goto broken;	/* one lone sextet */
	return 0;
broken:
	buf_truncate(raw, start);
	d->broken = 1;
	return -1;
}

/* convert - raw bytes of one charset run appended to out as UTF-8; an
 * invalid sequence becomes U+FFFD and conversion goes on */
static void convert(iconv_t cd, const struct buf *raw, struct buf *out,
    size_t max)
{
	static const char repl[] = "\xef\xbf\xbd";
	char obuf[512], *in = raw->data, *op;
	size_t inleft = raw->len, oleft, r;

	iconv(cd, NULL, NULL, NULL, NULL);
	while (inleft > 0 && out->len < max) {
		op = obuf;
		oleft = sizeof(obuf);
		r = iconv(cd, &in, &inleft, &op, &oleft);
		bput(out, obuf, (size_t)(op - obuf), max);
		if (r != (size_t)-1)
			break;
		if (errno == E2BIG)
			continue;
		/* EILSEQ, EINVAL: one byte is not convertible */
		bput(out, repl, 3, max);
		in++;
		inleft--;
		iconv(cd, NULL, NULL, NULL, NULL);
	}
	op = obuf;
	oleft = sizeof(obuf);
	if (iconv(cd, NULL, NULL, &op, &oleft) != (size_t)-1)
		bput(out, obuf, (size_t)(op - obuf), max);
}

/* decode_2047 - append s with its encoded words decoded; 1 if any was */
static int decode_2047(const char *s, size_t len, struct buf *out,
    size_t max, int *broken_r)
{
	struct dec2047 d;
	struct ew w, nw;
	struct buf raw;
	iconv_t run = (iconv_t)-1;
	size_t i = 0, j, ws = 0, ws_end = 0;
	int any = 0;
	unsigned k;

	memset(&d, 0, sizeof(d));
	d.pinned = (iconv_t)-1;
	d.s = s;
	d.len = len;
	buf_init(&raw, max);
	while (i < len && out->len < max) {
		if (s[i] == '=' && ew_parse(&d, i, &w)) {
			/* adjacent words of one charset are converted as one
			 * run, so a character split across words survives */
			if (run != (iconv_t)-1 && run != w.cd) {
				convert(run, &raw, out, max);
				buf_reset(&raw);
				run = d.pinned = (iconv_t)-1;
			}
		}
		if (s[i] == '=' && ew_parse(&d, i, &w) &&
		    ew_decode(&d, &w, &raw, max) == 0) {
			run = d.pinned = w.cd;
			any = 1;
			i = w.end;
			ws = ws_end = 0;
			/* RFC 2047 section 6.2: white space between two
			 * encoded words is not displayed (put back below if
			 * the next word turns out to be broken) */
			for (j = i; j < len && is_lwsp((unsigned char)s[j]); j++)
				;
			if (j > i && j < len && ew_parse(&d, j, &nw)) {
				ws = i;
				ws_end = i = j;
			}
			continue;
		}
		if (run != (iconv_t)-1) {
			convert(run, &raw, out, max);
			buf_reset(&raw);
			run = d.pinned = (iconv_t)-1;
		}
		if (ws_end > ws) {
			bput(out, s + ws, ws_end - ws, max);
			ws = ws_end = 0;
		}
		bput(out, s + i, 1, max);
		i++;
	}
	if (run != (iconv_t)-1)
		convert(run, &raw, out, max);
	buf_free(&raw);
	for (k = 0; k < d.ncache; k++)
		if (d.cache[k].cd != (iconv_t)-1)
			iconv_close(d.cache[k].cd);
	if (broken_r != NULL && d.broken)
		*broken_r = 1;
	return any;
}

/* mime_decode_2047 - RFC 2047 decoding of a header value into out */
int mime_decode_2047(const char *s, size_t len, struct buf *out, size_t max)
{
	buf_reset(out);
	return decode_2047(s, len, out, max, NULL);
}

/* ------------------------------------------------ header field parsing */

static const char *const mime_names[] = {
	"Content-Type", "Content-Transfer-Encoding", "Content-Disposition",
	"Content-Description", "Content-ID", "MIME-Version",
};

/* name_is - case-insensitive name compare, trailing blanks ignored */
static int name_is(const char *name, size_t len, const char *want)
{
	while (len > 0 && (name[len - 1] == ' ' || name[len - 1] == '\t'))
		len--;
	return strlen(want) == len && strncasecmp(name, want, len) == 0;
}

/* mime_hdr_is_mime - Postfix's HDR_OPT_MIME set (header_opts) */
int mime_hdr_is_mime(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < sizeof(mime_names) / sizeof(mime_names[0]); i++)
		if (name_is(name, len, mime_names[i]))
			return 1;
	return 0;
}

/* is_header - length of the name if line starts "name:" or "name :" */
static size_t is_header(const char *s, size_t len)
{
	size_t i, name = 0;
	int blank = 0;
	unsigned char c;

	for (i = 0; i < len; i++) {
		c = (unsigned char)s[i];
		if (c == ':')
			return name;
		if (c == ' ' || c == '\t') {
			if (name == 0)
				return 0;
			blank = 1;
			continue;
		}
		if (c < 0x21 || c > 0x7e || blank)
			return 0;
		name++;
	}
	return 0;
}

/* RFC 2045 tspecials; tokens are runs of anything else but CTLs and
 * white space */
#define TSPECIALS "()<>@,;:\\\"/[]?="

/* ct_token - next token of a structured value: 'T' token or 'Q' quoted
 * string (value in val, unescaped), a special character, or 0 at end;
 * comments are skipped */
static int ct_token(const char *s, size_t len, size_t *ip, struct buf *val)
{
	size_t i = *ip;
	int level;
	unsigned char c;

	buf_reset(val);
	for (;;) {
		while (i < len && (is_lwsp((unsigned char)s[i])))
			i++;
		if (i >= len) {
			*ip = i;
			return 0;
		}
		if (s[i] != '(')
			break;
		for (level = 0; i < len; i++) {
			if (s[i] == '\\' && i + 1 < len)
				i++;
			else if (s[i] == '(')
				level++;
			else if (s[i] == ')' && --level == 0) {
				i++;
				break;
			}
		}
	}
	c = (unsigned char)s[i];
	if (c < 0x20 || c == 0x7f) {
		*ip = i + 1;
		return 1;	/* a control character: junk, not a token */
	}
	if (c == '"') {
		for (i++; i < len && s[i] != '"'; i++) {
			if (s[i] == '\\' && i + 1 < len)
				i++;
			bput(val, s + i, 1, val->max);
		}
		*ip = i < len ? i + 1 : i;
		return 'Q';
	}
	if (strchr(TSPECIALS, c) != NULL) {
		*ip = i + 1;
		return c;
	}
	while (i < len && (c = (unsigned char)s[i]) > 0x20 && c != 0x7f &&
	    strchr(TSPECIALS, c) == NULL)
		bput(val, s + i++, 1, val->max);
	*ip = i;
	return 'T';
}

/* push_boundary - a multipart's boundary, or the nesting flag */
static void push_boundary(struct mimescan *m, const struct buf *b,
    int digest)
{
	struct mimescan_bound *e;
	size_t n = b->len;

	if (m->depth >= m->o.nesting_limit) {
		m->errs |= MIMESCAN_E_NESTING;
		return;
	}
	if (n > MIMESCAN_BOUNDARY_MAX) {
		n = MIMESCAN_BOUNDARY_MAX;
		m->errs |= MIMESCAN_E_BOUNDARY;
	}
	e = &m->stack[m->depth++];
	e->s = xmemdup(b->data, n);
	e->len = n;
	e->digest = digest;
}

/* pop_to - drop boundaries until depth is d */
static void pop_to(struct mimescan *m, unsigned d)
{
	while (m->depth > d) {
		m->depth--;
		XFREE(&m->stack[m->depth].s);
	}
}

/* content_type - type, subtype and (multipart) boundaries of a value;
 * every boundary parameter is pushed, as Postfix does, so content
 * behind any of them is found */
static void content_type(struct mimescan *m, const char *v, size_t len)
{
	struct buf val;
	size_t i = 0;
	int t, digest = 0, grp = 0, is_b = 0;

	buf_init(&val, MIMESCAN_BOUNDARY_MAX + 1);
	if (ct_token(v, len, &i, &val) != 'T')
		goto done;
	if (strcasecmp(val.data, "text") == 0)
		m->ctype = CT_TEXT;
	else if (strcasecmp(val.data, "message") == 0)
		m->ctype = CT_MESSAGE;
	else if (strcasecmp(val.data, "multipart") == 0)
		m->ctype = CT_MULTIPART;
	else
		m->ctype = CT_OTHER;
	m->stype = SUB_OTHER;
	t = ct_token(v, len, &i, &val);
	if (t == '/' && (t = ct_token(v, len, &i, &val)) == 'T') {
		if (m->ctype == CT_MESSAGE && (strcasecmp(val.data,
		    "rfc822") == 0 || strcasecmp(val.data, "global") == 0))
			m->stype = SUB_RFC822;
		digest = strcasecmp(val.data, "digest") == 0;
		t = ct_token(v, len, &i, &val);
	}
	if (m->ctype != CT_MULTIPART)
		goto done;
	/* parameters: groups of tokens between ';' */
	for (; t != 0; t = ct_token(v, len, &i, &val)) {
		if (t == ';') {
			grp = 0;
			continue;
		}
		if (grp == 0)
			is_b = t == 'T' && strcasecmp(val.data, "boundary") == 0;
		else if (grp == 1)
			is_b = is_b && t == '=';
		else if (grp == 2 && is_b && (t == 'T' || t == 'Q'))
			push_boundary(m, &val, digest);
		grp++;
	}
done:
	buf_free(&val);
}

/* content_encoding - Content-Transfer-Encoding; unknown values change
 * nothing */
static void content_encoding(struct mimescan *m, const char *v, size_t len)
{
	static const struct {
		const char *name;
		int enc;
	} map[] = {
		{ "7bit", ENC_7BIT }, { "8bit", ENC_8BIT },
		{ "binary", ENC_BINARY }, { "quoted-printable", ENC_QP },
		{ "base64", ENC_B64 },
	};
	struct buf val;
	size_t i = 0, k;

	buf_init(&val, 64);
	if (ct_token(v, len, &i, &val) == 'T')
		for (k = 0; k < sizeof(map) / sizeof(map[0]); k++)
			if (strcasecmp(val.data, map[k].name) == 0)
				m->enc = map[k].enc;
	buf_free(&val);
}

/* header_done - emit a logical header (and its decoded copy), then let
 * its MIME meaning change the state */
static void header_done(struct mimescan *m, struct mimescan_item *it,
    size_t name_len)
{
	const char *name = it->text, *v;
	size_t vlen;
	int broken = 0;

	/* a header cut inside its name has no value */
	if (name_len > it->len)
		name_len = it->len;
	v = name + name_len + (name_len < it->len);
	vlen = (size_t)(it->text + it->len - v);
	/* as cleanup(8): MIME headers and every header of a multipart
	 * part to mime_header_checks (the Postfix oracle test shows a part's
	 * X-header there), other primary ones to header_checks, other
	 * headers of an attached message to nested_header_checks */
	it->table = mime_hdr_is_mime(name, name_len) ||
	    it->cls == MIMESCAN_MULTIPART ? MIMESCAN_T_MIME_HEADER :
	    it->cls == MIMESCAN_PRIMARY ? MIMESCAN_T_HEADER :
	    MIMESCAN_T_NESTED_HEADER;
	emit(m, it);
	if (m->o.decode_headers && memmem(v, vlen, "=?", 2) != NULL) {
		buf_reset(&m->tmp);
		bput(&m->tmp, name, (size_t)(v - name), m->tmp.max);
		if (decode_2047(v, vlen, &m->tmp, m->o.header_size_limit,
		    &broken)) {
			it->text = m->tmp.data;
			it->len = m->tmp.len;
			it->decoded = 1;
			emit(m, it);
		}
		if (broken)
			m->errs |= MIMESCAN_E_ENCODING;
	}
	if (name_is(name, name_len, "Content-Type"))
		content_type(m, v, vlen);
	else if (name_is(name, name_len, "Content-Transfer-Encoding"))
		content_encoding(m, v, vlen);
}

/* hdr_add - more text for the logical header, cut at the limit */
static void hdr_add(struct mimescan *m, const char *p, size_t n)
{
	if (bput(&m->hdr, p, n, m->o.header_size_limit))
		m->errs |= MIMESCAN_E_TRUNCATED;
}

/* hdr_flush - the collected body header is complete */
static void hdr_flush(struct mimescan *m)
{
	struct mimescan_item it;

	if (!m->hdr_on)
		return;
	m->hdr_on = 0;
	memset(&it, 0, sizeof(it));
	it.cls = m->state == ST_NESTED ? MIMESCAN_NESTED : MIMESCAN_MULTIPART;
	it.text = m->hdr.data;
	it.len = m->hdr.len;
	it.off = m->hdr_off;
	it.end = m->hdr_end;
	header_done(m, &it, m->hdr_name_len);
}

/* ------------------------------------------------------ body decoding */

/* dec_put - decoded bytes, up to body_size_limit per segment */
static void dec_put(struct mimescan *m, const char *p, size_t n)
{
	bput(&m->dec, p, n, m->o.body_size_limit);
}

/* segment_start - a body segment begins: offset 0, decoding set up */
static void segment_start(struct mimescan *m)
{
	m->seg_off = 0;
	m->dec_on = m->o.decode_body && m->ctype == CT_TEXT &&
	    (m->enc == ENC_QP || m->enc == ENC_B64);
	m->dec_kind = m->enc;
	m->b64acc = 0;
	m->b64n = 0;
	m->qpst = 0;
	m->nqpws = 0;
	buf_reset(&m->dec);
}

/* b64_flush - the bytes of a partial quantum (at "=" or the end) */
static void b64_flush(struct mimescan *m)
{
	char o[2];

	if (m->b64n == 1)
		m->errs |= MIMESCAN_E_ENCODING;
	if (m->b64n >= 2) {
		o[0] = (char)(m->b64acc >> (m->b64n == 2 ? 4 : 10));
		o[1] = (char)(m->b64acc >> 2);
		dec_put(m, o, (size_t)(m->b64n - 1));
	}
	m->b64acc = 0;
	m->b64n = 0;
}

/* b64_feed - base64 text; line ends do not matter, junk is skipped */
static void b64_feed(struct mimescan *m, const char *p, size_t n)
{
	size_t i;
	int v;
	char o[3];

	for (i = 0; i < n; i++) {
		if (p[i] == '=') {
			b64_flush(m);
			continue;
		}
		if ((v = b64_value((unsigned char)p[i])) < 0) {
			if (p[i] != ' ' && p[i] != '\t')
				m->errs |= MIMESCAN_E_ENCODING;
			continue;
		}
		m->b64acc = m->b64acc << 6 | (unsigned long)v;
		if (++m->b64n == 4) {
			o[0] = (char)(m->b64acc >> 16);
			o[1] = (char)(m->b64acc >> 8);
			o[2] = (char)m->b64acc;
			dec_put(m, o, 3);
			m->b64acc = 0;
			m->b64n = 0;
		}
	}
}

/* qp_ws_flush - held white space turned out not to be trailing */
static void qp_ws_flush(struct mimescan *m)
{
	dec_put(m, m->qpws, m->nqpws);
	m->nqpws = 0;
}

/* qp_broken - a "=" that starts no escape is kept literally */
static void qp_broken(struct mimescan *m)
{
	m->errs |= MIMESCAN_E_ENCODING;
	dec_put(m, "=", 1);
	if (m->qpst == 2)
		dec_put(m, &m->qpx, 1);
	else if (m->qpst == 3)
		qp_ws_flush(m);
	m->qpst = 0;
}

/* qp_feed - quoted-printable text of one line (possibly a chunk) */
static void qp_feed(struct mimescan *m, const char *p, size_t n)
{
	size_t i;
	char c, o;

	for (i = 0; i < n; i++) {
		c = p[i];
		switch (m->qpst) {
		case 1:
			if (hex_value((unsigned char)c) >= 0) {
				m->qpx = c;
				m->qpst = 2;
			} else if (c == ' ' || c == '\t') {
				m->qpst = 3;
				m->qpws[m->nqpws++] = c;
			} else {
				qp_broken(m);
				i--;
			}
			continue;
		case 2:
			if (hex_value((unsigned char)c) >= 0) {
				o = (char)(hex_value((unsigned char)m->qpx) << 4 |
				    hex_value((unsigned char)c));
				dec_put(m, &o, 1);
				m->qpst = 0;
			} else {
				qp_broken(m);
				i--;
			}
			continue;
		case 3:
			if ((c == ' ' || c == '\t') && m->nqpws < QP_WS_MAX) {
				m->qpws[m->nqpws++] = c;
			} else {
				qp_broken(m);
				i--;
			}
			continue;
		default:
			break;
		}
		if (c == ' ' || c == '\t') {
			if (m->nqpws == QP_WS_MAX)
				qp_ws_flush(m);
			m->qpws[m->nqpws++] = c;
		} else if (c == '=') {
			qp_ws_flush(m);
			m->qpst = 1;
		} else {
			qp_ws_flush(m);
			dec_put(m, &c, 1);
		}
	}
}

/* qp_eol - a hard line end: trailing blanks go, "=" is a soft break */
static void qp_eol(struct mimescan *m)
{
	if (m->qpst == 2)
		qp_broken(m);
	if (m->qpst == 0)
		dec_put(m, "\n", 1);
	m->qpst = 0;
	m->nqpws = 0;
}

/* dec_feed - one raw line or chunk of an encoded segment */
static void dec_feed(struct mimescan *m, const char *p, size_t n, int last)
{
	if (m->dec_kind == ENC_B64) {
		b64_feed(m, p, n);
	} else {
		qp_feed(m, p, n);
		if (last)
			qp_eol(m);
	}
}

/* segment_finish - the decoded lines of a segment, after its raw lines */
static void segment_finish(struct mimescan *m)
{
	struct mimescan_item it;
	const char *p, *e, *nl;
	size_t n;

	if (!m->dec_on)
		return;
	m->dec_on = 0;
	if (m->dec_kind == ENC_B64)
		b64_flush(m);
	else if (m->qpst == 2)
		qp_broken(m);
	p = m->dec.data;
	e = p + m->dec.len;
	memset(&it, 0, sizeof(it));
	it.cls = MIMESCAN_BODY;
	it.table = MIMESCAN_T_BODY;
	it.decoded = 1;
	while (p < e && !m->stopped) {
		for (nl = p; nl < e && *nl != '\n' && *nl != '\r'; nl++)
			;
		while (p < nl && !m->stopped) {
			n = (size_t)(nl - p);
			if (n > m->o.line_length_limit)
				n = m->o.line_length_limit;
			memcpy(m->dline, p, n);
			m->dline[n] = '\0';
			it.text = m->dline;
			it.len = n;
			emit(m, &it);
			p += n;
		}
		if (nl < e && *nl == '\r' && nl + 1 < e && nl[1] == '\n')
			nl++;
		p = nl + 1;
	}
	buf_reset(&m->dec);
}

/* ------------------------------------------------------- state machine */

/* body_out - one body record: an item within body_size_limit */
static void body_out(struct mimescan *m, const char *text, size_t len,
    int last, size_t off, size_t end)
{
	struct mimescan_item it;

	if (m->seg_off < m->o.body_size_limit) {
		if (len > 0) {
			memset(&it, 0, sizeof(it));
			it.cls = MIMESCAN_BODY;
			it.table = MIMESCAN_T_BODY;
			it.text = text;
			it.len = len;
			it.off = off;
			it.end = end;
			emit(m, &it);
		}
		if (m->dec_on)
			dec_feed(m, text, len, last);
	}
	m->seg_off += len + 1;
}

/* block_end - an empty line ended a header block */
static void block_end(struct mimescan *m)
{
	if (m->ctype == CT_MESSAGE && m->stype == SUB_RFC822) {
		m->state = ST_NESTED;
		m->ctype = CT_TEXT;
		m->stype = SUB_OTHER;
		m->enc = ENC_7BIT;
		return;
	}
	if (m->ctype == CT_MULTIPART) {
		m->ctype = CT_OTHER;
		m->enc = ENC_7BIT;
	}
	m->state = ST_BODY;
	segment_start(m);
}

/* boundary - is this line a boundary on the stack?  Acts on it if so */
static void boundary(struct mimescan *m, const char *text, size_t len)
{
	const struct mimescan_bound *b;
	unsigned k;
	int digest;

	for (k = m->depth; k-- > 0;) {
		b = &m->stack[k];
		if (len - 2 < b->len || memcmp(text + 2, b->s, b->len) != 0)
			continue;
		segment_finish(m);
		digest = b->digest;
		if (len - 2 - b->len >= 2 && text[2 + b->len] == '-' &&
		    text[3 + b->len] == '-') {
			pop_to(m, k);
			m->state = ST_BODY;
			m->ctype = CT_OTHER;
			m->enc = ENC_7BIT;
			segment_start(m);
		} else {
			pop_to(m, k + 1);
			m->state = ST_MULTIPART;
			m->ctype = digest ? CT_MESSAGE : CT_TEXT;
			m->stype = digest ? SUB_RFC822 : SUB_OTHER;
			m->enc = ENC_7BIT;
		}
		return;
	}
}

/* record - one line, or one chunk of a long line (cont: a chunk of the
 * same line came before; last: this one ends the line) */
static void record(struct mimescan *m, const char *text, size_t len,
    int cont, int last, size_t off, size_t end)
{
	size_t name;

	if (m->state == ST_MULTIPART || m->state == ST_NESTED) {
		if (m->hdr_on) {
			if (cont || (len > 0 && (text[0] == ' ' ||
			    text[0] == '\t'))) {
				if (!cont)
					hdr_add(m, "\n", 1);
				hdr_add(m, text, len);
				m->hdr_end = end;
				return;
			}
			hdr_flush(m);
		}
		if (!cont && (name = is_header(text, len)) > 0) {
			m->hdr_on = 1;
			m->hdr_name_len = name;
			m->hdr_off = off;
			m->hdr_end = end;
			buf_reset(&m->hdr);
			hdr_add(m, text, name);
			/* "Name :" is normalised to "Name:" as Postfix does */
			while (text[name] != ':')
				name++;
			hdr_add(m, text + name, len - name);
			return;
		}
		if (len == 0 && !cont) {
			block_end(m);
			return;
		}
		/* not a header: the block ends and this is body (Postfix
		 * counts the blank line it inserts) */
		m->state = ST_BODY;
		segment_start(m);
		m->seg_off = 1;
	}
	if (m->depth > 0 && !cont && len >= 2 && text[0] == '-' &&
	    text[1] == '-')
		boundary(m, text, len);
	body_out(m, text, len, last, off, end);
}

/* line_chunk - hand the line buffer on as one record */
static void line_chunk(struct mimescan *m, int last, size_t eol)
{
	size_t off = m->chunk_off, len = m->llen;

	m->line[len] = '\0';
	m->chunk_off += len + eol;
	m->llen = 0;
	record(m, m->line, len, m->line_cont, last, off, off + len + eol);
	m->line_cont = !last;
}

/* line_add - content bytes; a full line goes out as a chunk first */
static void line_add(struct mimescan *m, const char *p, size_t n)
{
	size_t k;

	while (n > 0 && !m->stopped) {
		if (m->llen == m->o.line_length_limit)
			line_chunk(m, 0, 0);
		k = m->o.line_length_limit - m->llen;
		if (k > n)
			k = n;
		memcpy(m->line + m->llen, p, k);
		m->llen += k;
		p += k;
		n -= k;
	}
}

/* primary_end - the primary headers are over; the body begins */
static void primary_end(struct mimescan *m)
{
	if (m->state == ST_PRIMARY)
		block_end(m);
}

/* ---------------------------------------------------------------- API */

/* mimescan_new - a scanner for one message */
struct mimescan *mimescan_new(const struct mimescan_options *opt,
    mimescan_fn *fn, void *arg)
{
	struct mimescan *m = xcalloc(1, sizeof(*m));

	if (opt != NULL)
		m->o = *opt;
	if (m->o.line_length_limit == 0)
		m->o.line_length_limit = MIMESCAN_LINE_DEFAULT;
	if (m->o.header_size_limit == 0)
		m->o.header_size_limit = MIMESCAN_HEADER_DEFAULT;
	if (m->o.body_size_limit == 0)
		m->o.body_size_limit = MIMESCAN_BODY_DEFAULT;
	if (m->o.nesting_limit == 0)
		m->o.nesting_limit = MIMESCAN_NESTING_DEFAULT;
	m->fn = fn;
	m->arg = arg;
	m->state = ST_PRIMARY;
	m->ctype = CT_TEXT;
	m->enc = ENC_7BIT;
	m->stack = xcalloc(m->o.nesting_limit, sizeof(*m->stack));
	m->line = xmalloc(m->o.line_length_limit + 1);
	m->dline = xmalloc(m->o.line_length_limit + 1);
	buf_init(&m->hdr, m->o.header_size_limit);
	buf_init(&m->tmp, m->o.header_size_limit);
	buf_init(&m->dec, m->o.body_size_limit);
	return m;
}

/* mimescan_free - release a scanner */
void mimescan_free(struct mimescan **mp)
{
	struct mimescan *m = *mp;

	if (m == NULL)
		return;
	pop_to(m, 0);
	free(m->stack);
	free(m->line);
	free(m->dline);
	buf_free(&m->hdr);
	buf_free(&m->tmp);
	buf_free(&m->dec);
	XFREE(mp);
}

/* mimescan_header - one primary header field */
void mimescan_header(struct mimescan *m, const char *name,
    const char *value, size_t vlen)
{
	struct mimescan_item it;
	size_t i, name_len = strlen(name);

	if (m->stopped || m->state != ST_PRIMARY)
		return;
	buf_reset(&m->hdr);
	hdr_add(m, name, name_len);
	hdr_add(m, ":", 1);
	for (i = 0; i < vlen; i++) {
		if (value[i] == '\r' && i + 1 < vlen && value[i + 1] == '\n')
			continue;
		hdr_add(m, value + i, 1);
	}
	memset(&it, 0, sizeof(it));
	it.cls = MIMESCAN_PRIMARY;
	it.text = m->hdr.data;
	it.len = m->hdr.len;
	it.hdr_index = m->nprimary++;
	header_done(m, &it, name_len);
}

/* mimescan_body - body bytes, any chunking, CRLF or LF */
void mimescan_body(struct mimescan *m, const void *p, size_t n)
{
	const char *s = p, *e = s + n, *q;

	if (m->ended)
		return;
	primary_end(m);
	while (s < e && !m->stopped) {
		if (m->cr_pending) {
			m->cr_pending = 0;
			if (*s == '\n') {
				line_chunk(m, 1, 2);
				s++;
				continue;
			}
			line_add(m, "\r", 1);
			continue;
		}
		for (q = s; q < e && *q != '\n' && *q != '\r'; q++)
			;
		line_add(m, s, (size_t)(q - s));
		if (q == e || m->stopped)
			break;
		if (*q == '\n')
			line_chunk(m, 1, 1);
		else
			m->cr_pending = 1;
		s = q + 1;
	}
}

/* mimescan_end - end of body; flushes what is pending */
unsigned mimescan_end(struct mimescan *m)
{
	if (m->ended)
		return m->errs;
	primary_end(m);
	if (m->cr_pending) {
		m->cr_pending = 0;
		line_add(m, "\r", 1);
	}
	if (m->llen > 0 && !m->stopped)
		line_chunk(m, 1, 0);
	if (!m->stopped)
		hdr_flush(m);
	if (!m->stopped)
		segment_finish(m);
	m->ended = 1;
	return m->errs;
}

/* mimescan_stopped - did the callback ask to stop? */
int mimescan_stopped(const struct mimescan *m)
{
	return m->stopped;
}
