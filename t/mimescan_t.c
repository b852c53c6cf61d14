/*
 * mimescan_t.c - the message scanner (common/mimescan.c): the items of
 * hand-written messages (single part, multipart/alternative, multipart/
 * mixed with a message/rfc822 holding its own multipart, folded headers),
 * CRLF against LF, every chunking against one chunk, raw offsets, the
 * decoders (RFC 2047 section 8, quoted-printable, base64), and every
 * bound crossed (nesting, header size, line length, boundary length,
 * body size, decoded output).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "mimescan.h"
#include "tap.h"
#include "xalloc.h"

/* what a test remembers of a scan */
struct rec {
	struct buf out;		/* one line per item, see rec_fn */
	const char *msg;	/* the body stream, to check offsets */
	size_t msglen;
	int bad_off;		/* an item whose [off,end) is not its text */
	size_t n, stop_at;	/* items seen; stop after stop_at (0: never) */
	size_t maxlen;		/* longest item */
	unsigned maxdepth;
};

/* rec_fn - "C T D|text|off-end" per item: class P/M/N/B, table h/m/n/b,
 * D '+' for decoded; newlines in text shown as \n */
static int rec_fn(void *arg, const struct mimescan_item *it)
{
	struct rec *r = arg;
	size_t i;

	r->n++;
	if (it->len > r->maxlen)
		r->maxlen = it->len;
	if (it->depth > r->maxdepth)
		r->maxdepth = it->depth;
	if (it->text[it->len] != '\0')
		r->bad_off = 1;
	if (BUF_LEN(&r->out) < 8000000) {
		buf_appendf(&r->out, "%c%c%c|", "PMNB"[it->cls],
		    "hmnb"[it->table], it->decoded ? '+' : ' ');
		for (i = 0; i < it->len; i++) {
			if (it->text[i] == '\n')
				buf_appends(&r->out, "\\n");
			else if (it->text[i] == '\r')
				buf_appends(&r->out, "\\r");
			else
				buf_appendc(&r->out, it->text[i]);
		}
		if (it->cls == MIMESCAN_PRIMARY)
			buf_appendf(&r->out, "|#%zu\n", it->hdr_index);
		else if (it->decoded && it->cls == MIMESCAN_BODY)
			buf_appendf(&r->out, "|\n");
		else
			buf_appendf(&r->out, "|%zu-%zu\n", it->off, it->end);
	}
	/* a raw body item's span starts with its text (line ends and, for
	 * headers, folds aside) */
	if (!it->decoded && it->cls == MIMESCAN_BODY && r->msg != NULL &&
	    (it->end > r->msglen || it->end < it->off + it->len ||
	    memcmp(r->msg + it->off, it->text, it->len) != 0))
		r->bad_off = 1;
	return r->stop_at != 0 && r->n >= r->stop_at;
}

struct hdr {
	const char *name, *value;
};

/* scan - primary headers, then the body in chunks of step bytes (0: one
 * chunk); returns the flags, items in r */
static unsigned scan(struct rec *r, const struct mimescan_options *o,
    const struct hdr *h, const char *body, size_t len, size_t step)
{
	struct mimescan *m;
	size_t i, k;
	unsigned f;

	buf_init(&r->out, 1 << 24);
	r->msg = body;
	r->msglen = len;
	r->bad_off = 0;
	r->n = 0;
	r->maxlen = 0;
	r->maxdepth = 0;
	m = mimescan_new(o, rec_fn, r);
	for (; h != NULL && h->name != NULL; h++)
		mimescan_header(m, h->name, h->value, strlen(h->value));
	if (step == 0)
		step = len;
	for (i = 0; i < len; i += k) {
		k = len - i < step ? len - i : step;
		mimescan_body(m, body + i, k);
	}
	f = mimescan_end(m);
	mimescan_free(&m);
	ok(m == NULL, "mimescan_free clears the pointer");
	return f;
}

/* items - scan and return the item lines (caller frees) */
static char *items(const struct mimescan_options *o, const struct hdr *h,
    const char *body, size_t step, unsigned *flags_r)
{
	struct rec r = { 0 };
	unsigned f;

	f = scan(&r, o, h, body, strlen(body), step);
	if (flags_r != NULL)
		*flags_r = f;
	ok(!r.bad_off, "every raw item's offsets point at its text");
	return buf_steal(&r.out);
}

/* lf - the same text with CRLF turned into LF */
static char *lf(const char *s)
{
	char *d = xstrdup(s), *p = d;

	for (; *s; s++)
		if (!(s[0] == '\r' && s[1] == '\n'))
			*p++ = *s;
	*p = '\0';
	return d;
}

/* strip_off - item lines without their offsets (in place) */
static char *strip_off(char *s)
{
	char *r = s, *w = s, *bar = NULL;

	for (; *r; r++) {
		if (*r == '|')
			bar = w;
		if (*r == '\n' && bar != NULL) {
			w = bar;
			bar = NULL;
		}
		*w++ = *r;
	}
	*w = '\0';
	return s;
}

/* chunk_all - feeding in two chunks split at every position, and byte by
 * byte, gives the items of one chunk */
static void chunk_all(const char *name, const struct mimescan_options *o,
    const struct hdr *h, const char *body)
{
	char *one = items(o, h, body, 0, NULL), *got;
	size_t len = strlen(body), k;
	struct mimescan *m;
	struct rec r = { 0 };
	int same = 1;

	for (k = 1; k < len && same; k++) {
		buf_init(&r.out, 1 << 24);
		m = mimescan_new(o, rec_fn, &r);
		for (const struct hdr *p = h; p && p->name; p++)
			mimescan_header(m, p->name, p->value,
			    strlen(p->value));
		mimescan_body(m, body, k);
		mimescan_body(m, body + k, len - k);
		mimescan_end(m);
		mimescan_free(&m);
		got = buf_steal(&r.out);
		if (strcmp(got, one) != 0) {
			same = 0;
			printf("# split at %zu:\n%s", k, got);
		}
		free(got);
	}
	ok(same, "%s: a split at each of %zu positions gives the same items",
	    name, len);
	got = items(o, h, body, 1, NULL);
	is_str(got, one, "byte-by-byte feeding gives the same items");
	free(got);
	free(one);
}

static const struct hdr simple_h[] = {
	{ "From", " <a@example.org>" },
	{ "Subject", " hello\r\n\tworld" },
	{ "content-type", " text/plain; charset=us-ascii" },
	{ NULL, NULL },
};
static const char simple_b[] =
	"Hi there,\r\n"
	"\r\n"
	"--not a boundary\r\n"
	"Subject: not a header here\r\n"
	"bye";

static const struct hdr mp_h[] = {
	{ "MIME-Version", " 1.0" },
	{ "Content-Type", " multipart/alternative;\r\n"
	    "\tboundary=\"=_alt 1\"" },
	{ NULL, NULL },
};
static const char mp_b[] =
	"This is a preamble\r\n"
	"--=_alt 1\r\n"
	"Content-Type: text/plain; charset=iso-8859-1\r\n"
	"Content-Transfer-Encoding: quoted-printable\r\n"
	"\r\n"
	"Caf=E9 soft=\r\n"
	"break   \r\n"
	"--=_alt 1  \r\n"
	"Content-Type: text/html\r\n"
	"Content-Transfer-Encoding: BASE64\r\n"
	"X-Part: two\r\n"
	"\r\n"
	"PGI+Ym9s\r\n"
	"ZDwvYj4K\r\n"
	"PHA+\r\n"
	"--=_alt 1--\r\n"
	"epilogue\r\n";
static const char mp_want[] =
	"Pm |MIME-Version: 1.0|#0\n"
	"Pm |Content-Type: multipart/alternative;\\n\tboundary=\"=_alt 1\"|#1\n"
	"Bb |This is a preamble|0-20\n"
	"Bb |--=_alt 1|20-31\n"
	"Mm |Content-Type: text/plain; charset=iso-8859-1|31-77\n"
	"Mm |Content-Transfer-Encoding: quoted-printable|77-122\n"
	"Bb |Caf=E9 soft=|124-138\n"
	"Bb |break   |138-148\n"
	"Bb+|Caf\xe9 softbreak|\n"
	"Bb |--=_alt 1  |148-161\n"
	"Mm |Content-Type: text/html|161-186\n"
	"Mm |Content-Transfer-Encoding: BASE64|186-221\n"
	"Mm |X-Part: two|221-234\n"
	"Bb |PGI+Ym9s|236-246\n"
	"Bb |ZDwvYj4K|246-256\n"
	"Bb |PHA+|256-262\n"
	"Bb+|<b>bold</b>|\n"
	"Bb+|<p>|\n"
	"Bb |--=_alt 1--|262-275\n"
	"Bb |epilogue|275-285\n";

static const struct hdr mixed_h[] = {
	{ "Subject", " =?UTF-8?B?w6lsw6h2ZQ==?= report" },
	{ "Content-Type", " multipart/mixed; boundary=outer" },
	{ NULL, NULL },
};
static const char mixed_b[] =
	"--outer\n"
	"Content-Type: text/plain\n"
	"\n"
	"see attached\n"
	"--outer\n"
	"Content-Type: message/rfc822\n"
	"Content-Disposition: attachment\n"
	"\n"
	"From: x@example.com\n"
	"Subject: inner\n"
	" folded =?iso-8859-1?q?caf=E9?=\n"
	"Content-Type: multipart/mixed; boundary=\"in ner\"\n"
	"\n"
	"--in ner\n"
	"Content-Type: text/plain\n"
	"Content-Transfer-Encoding: base64\n"
	"\n"
	"aW5uZXIgdGV4dAo=\n"
	"--in ner\n"
	"Content-Type: application/octet-stream\n"
	"Content-Transfer-Encoding: base64\n"
	"\n"
	"AAEC\n"
	"--outer--\n"
	"after\n";
static const char mixed_want[] =
	"Ph |Subject: =?UTF-8?B?w6lsw6h2ZQ==?= report|#0\n"
	"Ph+|Subject: \xc3\xa9l\xc3\xa8ve report|#0\n"
	"Pm |Content-Type: multipart/mixed; boundary=outer|#1\n"
	"Bb |--outer|0-8\n"
	"Mm |Content-Type: text/plain|8-33\n"
	"Bb |see attached|34-47\n"
	"Bb |--outer|47-55\n"
	"Mm |Content-Type: message/rfc822|55-84\n"
	"Mm |Content-Disposition: attachment|84-116\n"
	"Nn |From: x@example.com|117-137\n"
	"Nn |Subject: inner\\n folded =?iso-8859-1?q?caf=E9?=|137-184\n"
	"Nn+|Subject: inner\\n folded caf\xc3\xa9|137-184\n"
	"Nm |Content-Type: multipart/mixed; boundary=\"in ner\"|184-233\n"
	"Bb |--in ner|234-243\n"
	"Mm |Content-Type: text/plain|243-268\n"
	"Mm |Content-Transfer-Encoding: base64|268-302\n"
	"Bb |aW5uZXIgdGV4dAo=|303-320\n"
	"Bb+|inner text|\n"
	"Bb |--in ner|320-329\n"
	"Mm |Content-Type: application/octet-stream|329-368\n"
	"Mm |Content-Transfer-Encoding: base64|368-402\n"
	"Bb |AAEC|403-408\n"
	"Bb |--outer--|408-418\n"
	"Bb |after|418-424\n";

/* test_messages - the item sequences of hand-written messages */
static void test_messages(void)
{
	struct mimescan_options o = { 0 };
	char *got, *l1, *l2, *body;
	unsigned f;

	got = items(NULL, simple_h, simple_b, 0, &f);
	is_str(got,
	    "Ph |From: <a@example.org>|#0\n"
	    "Ph |Subject: hello\\n\tworld|#1\n"
	    "Pm |content-type: text/plain; charset=us-ascii|#2\n"
	    "Bb |Hi there,|0-11\n"
	    "Bb |--not a boundary|13-31\n"
	    "Bb |Subject: not a header here|31-59\n"
	    "Bb |bye|59-62\n",
	    "single part: headers unfolded with \\n, body lines, no empty "
	    "line item");
	is_int(f, 0, "no flags");
	free(got);

	o.decode_body = 1;
	o.decode_headers = 1;
	got = items(&o, mp_h, mp_b, 0, &f);
	is_str(got, mp_want, "multipart/alternative: MULTIPART headers, QP "
	    "and base64 parts decoded after their raw lines");
	is_int(f, 0, "no flags");
	free(got);
	chunk_all("multipart/alternative", &o, mp_h, mp_b);

	got = items(&o, mixed_h, mixed_b, 0, &f);
	is_str(got, mixed_want, "multipart/mixed + message/rfc822 + inner "
	    "multipart: NESTED headers, the outer boundary closes the inner "
	    "one, non-text base64 not decoded");
	free(got);
	chunk_all("multipart/mixed", &o, mixed_h, mixed_b);

	/* the same messages with LF only: the same texts, other offsets */
	body = lf(mp_b);
	l1 = strip_off(items(&o, mp_h, mp_b, 0, NULL));
	l2 = strip_off(items(&o, mp_h, body, 0, NULL));
	is_str(l2, l1, "multipart/alternative: LF gives the items of CRLF");
	free(body);
	free(l1);
	free(l2);
	body = xmalloc(2 * sizeof(mixed_b));
	{
		const char *s;
		char *p = body;

		for (s = mixed_b; *s; s++) {
			if (*s == '\n')
				*p++ = '\r';
			*p++ = *s;
		}
		*p = '\0';
	}
	l1 = strip_off(items(&o, mixed_h, mixed_b, 0, NULL));
	l2 = strip_off(items(&o, mixed_h, body, 0, NULL));
	is_str(l2, l1, "multipart/mixed: CRLF gives the items of LF");
	free(body);
	free(l1);
	free(l2);

	/* obsolete "Name :" form, folds, a non-header line ends the block */
	{
		static const struct hdr h[] = {
			{ "Content-Type", " multipart/mixed; boundary=b" },
			{ NULL, NULL } };
		const char *b =
		    "--b\n"
		    "X-A : one\n"
		    "\ttwo\n"
		    "  three\n"
		    "Content-ID: <x>\n"
		    "not a header\n"
		    "X-B: body now\n"
		    "--b\n"
		    " leading blank\n"
		    "--b--\n";

		got = items(NULL, h, b, 0, NULL);
		is_str(got,
		    "Pm |Content-Type: multipart/mixed; boundary=b|#0\n"
		    "Bb |--b|0-4\n"
		    "Mm |X-A: one\\n\ttwo\\n  three|4-27\n"
		    "Mm |Content-ID: <x>|27-43\n"
		    "Bb |not a header|43-56\n"
		    "Bb |X-B: body now|56-70\n"
		    "Bb |--b|70-74\n"
		    "Bb | leading blank|74-89\n"
		    "Bb |--b--|89-95\n",
		    "\"Name :\" normalised, folds kept, a non-header ends the "
		    "headers");
		free(got);
		chunk_all("folded part headers", NULL, h, b);
	}
	/* multipart/digest: parts are message/rfc822 by default */
	{
		static const struct hdr h[] = {
			{ "Content-Type", " multipart/digest; boundary=d" },
			{ NULL, NULL } };
		got = items(NULL, h, "--d\n\nSubject: in digest\n\nbody\n"
		    "--d--\n", 0, NULL);
		is_str(got,
		    "Pm |Content-Type: multipart/digest; boundary=d|#0\n"
		    "Bb |--d|0-4\n"
		    "Nn |Subject: in digest|5-24\n"
		    "Bb |body|25-30\n"
		    "Bb |--d--|30-36\n",
		    "multipart/digest parts default to message/rfc822");
		free(got);
	}
	/* message/rfc822 primary content: nested headers at once */
	{
		static const struct hdr h[] = {
			{ "Content-Type", " message/rfc822" },
			{ NULL, NULL } };
		got = items(NULL, h, "To: y\r\n\r\nhello\r\n", 0, NULL);
		is_str(got,
		    "Pm |Content-Type: message/rfc822|#0\n"
		    "Nn |To: y|0-7\n"
		    "Bb |hello|9-16\n",
		    "message/rfc822 body starts with NESTED headers");
		free(got);
	}
}

/* test_2047 - RFC 2047 section 8 and hostile encoded words */
static void test_2047(void)
{
	static const struct {
		const char *in, *want;
		int any;
	} v[] = {
		{ "(=?ISO-8859-1?Q?a?=)", "(a)", 1 },
		{ "(=?ISO-8859-1?Q?a?= b)", "(a b)", 1 },
		{ "(=?ISO-8859-1?Q?a?= =?ISO-8859-1?Q?b?=)", "(ab)", 1 },
		{ "(=?ISO-8859-1?Q?a?=  =?ISO-8859-1?Q?b?=)", "(ab)", 1 },
		{ "(=?ISO-8859-1?Q?a?=\r\n    =?ISO-8859-1?Q?b?=)", "(ab)", 1 },
		{ "(=?ISO-8859-1?Q?a_b?=)", "(a b)", 1 },
		{ "(=?ISO-8859-1?Q?a?= =?ISO-8859-2?Q?_b?=)", "(a b)", 1 },
		{ "=?US-ASCII?Q?Keith_Moore?= <moore@cs.utk.edu>",
		    "Keith Moore <moore@cs.utk.edu>", 1 },
		{ "=?ISO-8859-1?Q?Keld_J=F8rn_Simonsen?= <keld@dkuug.dk>",
		    "Keld J\xc3\xb8rn Simonsen <keld@dkuug.dk>", 1 },
		{ "=?ISO-8859-1?Q?Andr=E9?= Pirard <PIRARD@vm1.ulg.ac.be>",
		    "Andr\xc3\xa9 Pirard <PIRARD@vm1.ulg.ac.be>", 1 },
		{ "=?ISO-8859-1?B?SWYgeW91IGNhbiByZWFkIHRoaXMgeW8=?=\r\n "
		    "=?ISO-8859-2?B?dSB1bmRlcnN0YW5kIHRoZSBleGFtcGxlLg==?=",
		    "If you can read this you understand the example.", 1 },
		{ "=?ISO-8859-1?Q?Olle_J=E4rnefors?= <ojarnef@admin.kth.se>",
		    "Olle J\xc3\xa4rnefors <ojarnef@admin.kth.se>", 1 },
		/* RFC 2231 language suffix */
		{ "=?US-ASCII*EN?Q?Keith_Moore?=", "Keith Moore", 1 },
		/* one UTF-8 character split across two words */
		{ "=?utf-8?B?w6k=?= =?utf-8?B?w6k=?=", "\xc3\xa9\xc3\xa9", 1 },
		{ "=?utf-8?B?w6?= =?utf-8?B?k=?=", "\xef\xbf\xbd =?utf-8?B?k=?=",
		    1 },
		{ "=?utf-8?q?=C3?==?utf-8?q?=A9?=", "\xc3\xa9", 1 },
		/* not encoded words, or broken ones: left as they are */
		{ "plain text", "plain text", 0 },
		{ "=?no-such-charset-x?Q?a?=", "=?no-such-charset-x?Q?a?=", 0 },
		{ "=?utf-8?X?a?=", "=?utf-8?X?a?=", 0 },
		{ "=?utf-8//IGNORE?Q?a?=", "=?utf-8//IGNORE?Q?a?=", 0 },
		{ "=?utf-8,latin1?Q?a?=", "=?utf-8,latin1?Q?a?=", 0 },
		{ "=?utf-8?Q?a b?=", "=?utf-8?Q?a b?=", 0 },
		{ "=?utf-8?Q?a=ZZ?=", "=?utf-8?Q?a=ZZ?=", 0 },
		{ "=?utf-8?Q?a=E?=", "=?utf-8?Q?a=E?=", 0 },
		{ "=?utf-8?B?a$b=?=", "=?utf-8?B?a$b=?=", 0 },
		{ "=?utf-8?B?QUJDR?=", "=?utf-8?B?QUJDR?=", 0 },
		{ "=??Q?a?=", "=??Q?a?=", 0 },
		{ "=?utf-8?Q?unterminated", "=?utf-8?Q?unterminated", 0 },
		{ "=?utf-8?Q?", "=?utf-8?Q?", 0 },
		{ "=?", "=?", 0 },
		/* a broken word between two good ones keeps its blanks */
		{ "=?utf-8?q?a?= =?utf-8?q?=Z?= =?utf-8?q?b?=",
		    "a =?utf-8?q?=Z?= b", 1 },
		/* invalid bytes for the charset become U+FFFD */
		{ "=?utf-8?q?a=FFb?=", "a\xef\xbf\xbd" "b", 1 },
		/* encoded words glued to text are decoded too */
		{ "x=?utf-8?q?y?=z", "xyz", 1 },
	};
	struct buf out;
	size_t i;
	int r;
	char *big, *p;

	buf_init(&out, 1 << 20);
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		r = mime_decode_2047(v[i].in, strlen(v[i].in), &out, 4096);
		if (!is_str(out.data, v[i].want, "RFC 2047 vector") ||
		    r != v[i].any)
			printf("#   vector %zu, returned %d\n", i, r);
		is_int(r, v[i].any, "return value");
	}
	r = mime_decode_2047("=?utf-8?q?abcdef?=", 18, &out, 3);
	ok(r == 1 && strcmp(out.data, "abc") == 0, "output cut at max");
	r = mime_decode_2047("abcdef", 6, &out, 4);
	ok(r == 0 && strcmp(out.data, "abcd") == 0, "copy cut at max");

	/* a megabyte of near-words: linear, and cut */
	big = xmalloc(1 << 20);
	for (p = big; p + 6 <= big + (1 << 20); p += 6)
		memcpy(p, "=?a?q?", 6);
	r = mime_decode_2047(big, (size_t)(p - big), &out, 1 << 20);
	ok(r == 0 && out.len == (size_t)(p - big), "1 MB of \"=?a?q?\": copied");
	for (p = big; p + 14 <= big + (1 << 20); p += 14)
		memcpy(p, "=?utf-8?q?a?= ", 14);
	r = mime_decode_2047(big, (size_t)(p - big), &out, 1000);
	ok(r == 1 && out.len == 1000, "1 MB of encoded words: output cut at "
	    "1000 bytes (%zu)", out.len);
	for (p = big; p + 16 <= big + (1 << 20); p += 16)
		memcpy(p, i++ % 2 ? "=?x-none?q?b?=  " : "=?utf-8?q?a?=   ",
		    16);
	r = mime_decode_2047(big, (size_t)(p - big), &out, 1 << 20);
	ok(r == 1, "alternating known and unknown charsets");
	free(big);
	buf_free(&out);
}

/* test_body_decoding - QP soft breaks, base64 across lines, brokenness */
static void test_body_decoding(void)
{
	struct mimescan_options o = { 0 };
	static const struct hdr qp[] = {
		{ "Content-Transfer-Encoding", " quoted-printable" },
		{ NULL, NULL } };
	static const struct hdr b64[] = {
		{ "Content-Type", " text/plain" },
		{ "Content-Transfer-Encoding", " base64" },
		{ NULL, NULL } };
	static const struct hdr img[] = {
		{ "Content-Type", " image/png" },
		{ "Content-Transfer-Encoding", " base64" },
		{ NULL, NULL } };
	char *got;
	unsigned f;

	o.decode_body = 1;
	got = items(&o, qp, "a=3D=\r\nb =\r\nc  \r\n=4a=4B\r\n\r\nx=\r\n",
	    0, &f);
	is_str(got,
	    "Pm |Content-Transfer-Encoding: quoted-printable|#0\n"
	    "Bb |a=3D=|0-7\n"
	    "Bb |b =|7-12\n"
	    "Bb |c  |12-17\n"
	    "Bb |=4a=4B|17-25\n"
	    "Bb |x=|27-31\n"
	    "Bb+|a=b c|\n"
	    "Bb+|JK|\n"
	    "Bb+|x|\n",
	    "QP: soft breaks joined, trailing blanks dropped, lower-case hex");
	is_int(f, 0, "clean QP: no flag");
	free(got);
	got = items(&o, qp, "a=ZZb=\tc=\n=4\n", 0, &f);
	is_str(got,
	    "Pm |Content-Transfer-Encoding: quoted-printable|#0\n"
	    "Bb |a=ZZb=\tc=|0-10\n"
	    "Bb |=4|10-13\n"
	    "Bb+|a=ZZb=\tc=4|\n",
	    "QP: broken escapes kept literally");
	is_int(f, MIMESCAN_E_ENCODING, "broken QP flagged");
	free(got);
	got = items(&o, b64, "SGVs\r\nbG8s\r\nIHdv\r\ncmxk\r\nIQ==\r\n", 0,
	    &f);
	ok(strstr(got, "Bb+|Hello, world!|\n") != NULL,
	    "base64 across line breaks");
	is_int(f, 0, "clean base64: no flag");
	free(got);
	got = items(&o, b64, "SGVs*bG8\nK\n", 0, &f);
	ok(strstr(got, "Bb+|Hello|\n") != NULL, "base64 junk skipped");
	is_int(f, MIMESCAN_E_ENCODING, "base64 junk flagged");
	free(got);
	got = items(&o, img, "SGVsbG8=\n", 0, &f);
	ok(strchr(got, '+') == NULL, "non-text parts are not decoded");
	free(got);
	o.decode_body = 0;
	got = items(&o, b64, "SGVsbG8=\n", 0, &f);
	ok(strchr(got, '+') == NULL, "decode_body off: nothing decoded");
	free(got);
	chunk_all("QP", &o, qp, "a=3D=\r\nb =\r\nc  \r\n=4a=4B\r\n\r\nx=\r\n");
}

/* test_stop - the callback ends the scan */
static void test_stop(void)
{
	struct rec r = { 0 };
	struct mimescan *m;
	struct mimescan_options o = { .decode_body = 1 };

	r.stop_at = 3;
	buf_init(&r.out, 1 << 20);
	m = mimescan_new(&o, rec_fn, &r);
	mimescan_header(m, "Subject", " one", 4);
	mimescan_body(m, "two\nthree\nfour\nfive\n", 20);
	ok(mimescan_stopped(m), "stopped after the third item");
	mimescan_body(m, "six\n", 4);
	mimescan_header(m, "X", " y", 2);
	mimescan_end(m);
	is_int(r.n, 3, "no item after the stop");
	mimescan_free(&m);
	buf_free(&r.out);
}

/* test_limits - every bound crossed */
static void test_limits(void)
{
	struct mimescan_options o = { 0 };
	struct rec r = { 0 };
	struct buf b;
	size_t i, n;
	unsigned f;
	char *big, *got;
	static const struct hdr mp[] = {
		{ "Content-Type", " multipart/mixed; boundary=b0" },
		{ NULL, NULL } };

	/* 10000 nested multiparts: stack bounded by nesting_limit */
	buf_init(&b, 1 << 24);
	for (i = 1; i <= 10000; i++)
		buf_appendf(&b, "--b%zu\nContent-Type: multipart/mixed; "
		    "boundary=b%zu\n\n", i - 1, i);
	buf_appends(&b, "--b10000\n\ndeep text\n--b0--\nend\n");
	o.body_size_limit = 1 << 24;
	f = scan(&r, &o, mp, b.data, b.len, 0);
	ok(f & MIMESCAN_E_NESTING, "10000-deep multipart: nesting flagged");
	is_int(r.maxdepth, 100, "depth never beyond the default limit (100)");
	ok(strstr(r.out.data, "Bb |--b10000|") != NULL &&
	    strstr(r.out.data, "Bb |deep text|") != NULL,
	    "past the limit boundaries are body text");
	ok(strstr(r.out.data, "Bb |--b0--|") != NULL &&
	    strstr(r.out.data, "Bb |end|") != NULL, "outer end boundary found");
	buf_free(&r.out);
	o.nesting_limit = 5;
	f = scan(&r, &o, mp, b.data, b.len, 4096);
	is_int(r.maxdepth, 5, "nesting_limit = 5 holds");
	buf_free(&r.out);
	buf_free(&b);

	/* 10000 nested message/rfc822: no stack, no recursion */
	buf_init(&b, 1 << 24);
	for (i = 0; i < 10000; i++)
		buf_appends(&b, "Content-Type: message/rfc822\n\n");
	buf_appends(&b, "Subject: core\n\nbody\n");
	{
		static const struct hdr h[] = {
			{ "Content-Type", " message/rfc822" },
			{ NULL, NULL } };

		f = scan(&r, NULL, h, b.data, b.len, 0);
		is_int(r.n, 10000 + 1 + 1 + 1, "10000 nested messages: each "
		    "header once, then the body");
		ok(strstr(r.out.data, "Nn |Subject: core|") != NULL,
		    "innermost headers are NESTED");
	}
	buf_free(&r.out);
	buf_free(&b);

	/* a 10 MB folded header in a part: cut at header_size_limit */
	n = 10 * 1024 * 1024;
	big = xmalloc(n + 200);
	i = (size_t)snprintf(big, 200, "--b0\nX-Big: ");
	while (i < n) {
		memset(big + i, 'x', 70);
		memcpy(big + i + 70, "\n\t", 2);
		i += 72;
	}
	memcpy(big + i, "x\n\nshort\n--b0--\n", 17);
	f = scan(&r, NULL, mp, big, strlen(big), 65536);
	ok(f & MIMESCAN_E_TRUNCATED, "10 MB header: truncation flagged");
	is_int(r.maxlen, 102400, "the item is header_size_limit bytes");
	ok(strstr(r.out.data, "Bb |short|") != NULL, "the body after it is "
	    "scanned");
	buf_free(&r.out);
	/* the same as a primary header */
	{
		struct mimescan *m;
		struct rec r2 = { 0 };

		buf_init(&r2.out, 1 << 20);
		m = mimescan_new(NULL, rec_fn, &r2);
		mimescan_header(m, "X-Big", big, strlen(big));
		ok(mimescan_end(m) & MIMESCAN_E_TRUNCATED,
		    "10 MB primary header: flagged");
		is_int(r2.maxlen, 102400, "and cut");
		mimescan_free(&m);
		buf_free(&r2.out);
	}

	/* a 1 MB line: 512 chunks of line_length_limit */
	memset(big, 'y', 1 << 20);
	memcpy(big + (1 << 20), "\nz\n", 4);
	o = (struct mimescan_options){ .body_size_limit = 4 << 20 };
	f = scan(&r, &o, NULL, big, strlen(big), 1000);
	is_int(r.n, 513, "1 MB line: 512 chunks + the next line");
	is_int(r.maxlen, 2048, "chunks of line_length_limit");
	ok(!r.bad_off, "chunk offsets");
	buf_free(&r.out);
	o.line_length_limit = 100;
	f = scan(&r, &o, NULL, big, strlen(big), 77);
	is_int(r.n, 10486 + 1, "line_length_limit = 100: 10486 chunks");
	buf_free(&r.out);

	/* body_size_limit per segment: default 51200 */
	f = scan(&r, NULL, NULL, big, strlen(big), 0);
	is_int(r.n, 25, "only the first 51200 bytes give items (25 chunks)");
	buf_free(&r.out);
	{
		struct buf m2;

		buf_init(&m2, 1 << 22);
		buf_appends(&m2, "--b0\n\n");
		for (i = 0; i < 2000; i++)
			buf_appends(&m2, "0123456789012345678901234567890123"
			    "456789\n");
		buf_appends(&m2, "--b0\n\nsecond part\n--b0--\nepilogue\n");
		f = scan(&r, NULL, mp, m2.data, m2.len, 0);
		ok(strstr(r.out.data, "Bb |second part|") != NULL &&
		    strstr(r.out.data, "Bb |epilogue|") != NULL,
		    "the limit is per segment: the next part is scanned");
		is_int(r.n, 1 + 1 + 1249 + 1 + 1 + 1, "1249 lines of the "
		    "first part within 51200 bytes");
		buf_free(&r.out);
		buf_free(&m2);
	}

	/* boundary longer than MIMESCAN_BOUNDARY_MAX: cut, prefix match */
	{
		struct buf h, m2;
		struct mimescan *m;

		buf_init(&h, 1 << 20);
		buf_init(&m2, 1 << 20);
		buf_appends(&h, " multipart/mixed; boundary=\"");
		for (i = 0; i < 5000; i++)
			buf_appendc(&h, 'a' + i % 26);
		buf_appends(&h, "\"");
		buf_appends(&m2, "--");
		buf_append(&m2, h.data + 28, 5000);
		buf_appends(&m2, "\nSubject: part\n\ntext\n");
		buf_init(&r.out, 1 << 20);
		r.msg = m2.data;
		r.msglen = m2.len;
		o = (struct mimescan_options){ .line_length_limit = 8192 };
		m = mimescan_new(&o, rec_fn, &r);
		mimescan_header(m, "Content-Type", h.data, h.len);
		mimescan_body(m, m2.data, m2.len);
		f = mimescan_end(m);
		mimescan_free(&m);
		ok(f & MIMESCAN_E_BOUNDARY, "5000-byte boundary flagged");
		ok(strstr(r.out.data, "Mm |Subject: part|") != NULL,
		    "and still found (prefix of %d bytes)",
		    MIMESCAN_BOUNDARY_MAX);
		buf_free(&r.out);
		buf_free(&h);
		buf_free(&m2);
	}

	/* decoded output bounded by body_size_limit and line length */
	{
		static const struct hdr h[] = {
			{ "Content-Transfer-Encoding", " base64" },
			{ NULL, NULL } };
		struct buf m2;

		buf_init(&m2, 1 << 22);
		for (i = 0; i < 40000; i++)
			buf_appends(&m2, "QUFBQUFB\n");	/* AAAAAA */
		o = (struct mimescan_options){ .decode_body = 1 };
		f = scan(&r, &o, h, m2.data, m2.len, 0);
		/* 51200 raw bytes = 5689 lines (offset < 51200) -> 34134
		 * decoded bytes, one line cut in 2048-byte chunks */
		is_int(r.n, 1 + 5689 + 17, "base64 body: raw items within the "
		    "limit, decoded line cut in chunks");
		is_int(r.maxlen, 2048, "decoded chunk length");
		buf_free(&r.out);
		buf_free(&m2);
	}
	free(big);

	/* header_size_limit small: a header cut inside its name */
	o = (struct mimescan_options){ .header_size_limit = 3,
	    .decode_headers = 1 };
	{
		static const struct hdr h[] = {
			{ "Subject", " =?utf-8?q?x?=" },
			{ NULL, NULL } };
		got = items(&o, h, "--x\n", 0, &f);
		is_str(got, "Ph |Sub|#0\nBb |--x|0-4\n",
		    "a header cut inside its name");
		is_int(f, MIMESCAN_E_TRUNCATED, "flagged");
		free(got);
	}
}

int main(void)
{
	test_messages();
	test_2047();
	test_body_decoding();
	test_stop();
	test_limits();
	ok(mime_hdr_is_mime("content-transfer-encoding", 25) &&
	    mime_hdr_is_mime("MIME-Version ", 13) &&
	    !mime_hdr_is_mime("Content-Length", 14) &&
	    !mime_hdr_is_mime("Content-Typ", 11),
	    "mime_hdr_is_mime: Postfix's HDR_OPT_MIME set");
	return done_testing();
}
