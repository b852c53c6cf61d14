/*
 * postern-dkim-keygen - make a DKIM key pair: the private key file for
 *                       postern-dkim and the DNS TXT record to publish.
 *
 * Usage: the manual is help_text below (postern-dkim-keygen --help).
 * Public: main only.
 * Trust: the command line is the admin's; nothing here reads peer data.
 *        The private key never exists with group or world bits: it is
 *        written to a file created 0600 with O_CREAT|O_EXCL (mkstemp) in
 *        the target directory, given to -u USER there, synced, and only
 *        then linked (or renamed, with -f) to SELECTOR.private, so no
 *        reader ever sees a partial or wrongly owned key.
 * Errors: one message on stderr; exit 0 written, 1 not written (a file
 *         exists and -f was not given, or an I/O or crypto error), 2
 *         usage.
 *
 * RFC 6376 section 3.6.1 (the record), RFC 8301 (RSA at least 1024 bits,
 * 2048 recommended), RFC 8463 (Ed25519: p= is the raw 32-byte key).  The
 * key is generated with OpenSSL; the record comes from the DKIM engine
 * (dkim_key_record on the PEM just written), and before anything is
 * written it is parsed back with dkim_keyrec_parse and checked against
 * the key (dkim_keyrec_matches): the tool never prints a record that
 * postern-dkim would not match with the key file.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "buf.h"
#include "dkim.h"
#include "tool.h"
#include "xalloc.h"

#define PROG "postern-dkim-keygen"
#define RSA_BITS_DEFAULT 2048
#define RSA_BITS_MIN 1024	/* RFC 8301 section 3.2: verifiers fail less */
#define RSA_BITS_WARN 2048	/* RFC 8301: signers SHOULD use 2048 */
#define RSA_BITS_MAX 8192	/* verifiers (and DNS) cope up to here */
#define PATH_TEXT_MAX 4096
#define PEM_MAX (16 * 1024)	/* an RSA-8192 PKCS#8 PEM is ~6.4 KB */
#define RECORD_MAX 4096		/* the TXT value (DKIM_KEYREC_MAX) */
#define ZONE_TEXT_MAX 8192	/* the .txt file */
#define TXT_STRING_MAX 255	/* one DNS character-string */

enum { EXIT_OK, EXIT_FAIL, EXIT_USAGE };

static const char help_text[] =
"NAME\n"
"    postern-dkim-keygen - make a DKIM key pair for postern-dkim\n"
"\n"
"SYNOPSIS\n"
"    postern-dkim-keygen [-t rsa|ed25519] [-b BITS] [-d DOMAIN]\n"
"        [-s SELECTOR] [-D DIR] [-u USER] [-f] [-r] [-T] [-S]\n"
"\n"
"DESCRIPTION\n"
"    Writes two files in DIR:\n"
"      SELECTOR.private  the private key, PEM (PKCS#8), mode 0600 from\n"
"                        the moment it exists; what postern-dkim's\n"
"                        key_file (OpenDKIM KeyFile) names\n"
"      SELECTOR.txt      the DNS record to paste into the zone of DOMAIN:\n"
"        SELECTOR._domainkey.DOMAIN.  IN  TXT  ( \"v=DKIM1; k=rsa; \"\n"
"                \"p=MIIBIjANBgkq...\" ... )\n"
"                        the value split into quoted strings of at most\n"
"                        255 bytes, as a zone file needs; verifiers join\n"
"                        them (RFC 6376 section 3.6.2.2).\n"
"    and prints the record on standard output.  Existing files are never\n"
"    overwritten unless -f is given.  Then check the published record\n"
"    with postern-dkim-testkey.\n"
"\n"
"OPTIONS\n"
"    -t, --type rsa|ed25519\n"
"        Key type; default rsa.  Ed25519 (RFC 8463) keys are small and\n"
"        fast, but not every verifier knows them yet: sign with both (two\n"
"        selectors) rather than Ed25519 alone.\n"
"    -b, --bits BITS\n"
"        RSA modulus size, 1024 to 8192; default 2048.  Under 2048 is\n"
"        warned about, under 1024 refused: verifiers treat signatures\n"
"        from such keys as failing (RFC 8301).  Not for Ed25519.\n"
"    -d, --domain DOMAIN\n"
"        The signing domain (d=).  Without it the record's owner name is\n"
"        SELECTOR._domainkey, relative to the zone it is pasted in.\n"
"    -s, --selector SELECTOR\n"
"        The selector (s=), also the files' base name; default \"default\".\n"
"    -D, --directory DIR\n"
"        Where to write the files (it must exist); default \".\".\n"
"    -u, --user USER\n"
"        Give the private key to USER (and USER's group), the user\n"
"        postern-dkim runs as; needs root unless USER is oneself.\n"
"    -f, --force\n"
"        Replace existing SELECTOR.private and SELECTOR.txt (atomically).\n"
"    -r, --restrict\n"
"        Restrict the key to email (s=email in the record).\n"
"    -T, --testmode\n"
"        Mark the key as testing (t=y): verifiers may treat failures as\n"
"        unsigned mail.\n"
"    -S, --nosubdomains\n"
"        Signatures' i= must have exactly DOMAIN, no subdomain (t=s).\n"
"    -h, --help    this text.     -V, --version    the version.\n"
"\n"
"    The options are opendkim-genkey's where it has them (-b -d -D -r -s\n"
"    -S), except that -t is the key type here and test mode is -T.\n"
"\n"
"EXIT STATUS\n"
"    0 written, 1 not written (a file exists without -f, or an error\n"
"    writing or making the key), 2 usage error.\n";

/* what one run makes */
struct keygen {
	int ed25519;
	int bits;
	const char *domain;		/* NULL: relative owner name */
	const char *selector;
	const char *dir;
	const char *user;
	int force, restrict_email, testing, strict;
	uid_t uid;
	gid_t gid;
	int chown;
};

/* usage - the synopsis on stderr, exit 2 */
static void usage(const char *why)
{
	if (why)
		fprintf(stderr, PROG ": %s\n", why);
	fputs("usage: " PROG " [-t rsa|ed25519] [-b BITS] [-d DOMAIN] "
	    "[-s SELECTOR] [-D DIR]\n"
	    "       [-u USER] [-f] [-r] [-T] [-S]   (--help for the manual)\n",
	    stderr);
	exit(EXIT_USAGE);
}

/* crypto_die - an OpenSSL failure with its queued reason, exit 1 */
static void crypto_die(const char *what)
	__attribute__((noreturn));
static void crypto_die(const char *what)
{
	unsigned long e = ERR_get_error();
	char reason[256];

	if (e)
		ERR_error_string_n(e, reason, sizeof(reason));
	else
		snprintf(reason, sizeof(reason), "unknown error");
	tool_die(EXIT_FAIL, "%s: %s", what, reason);
}

/* name_ok - dot-separated labels of letters, digits, '-' and '_' (each
 * 1..63 bytes, no '-' at either end), at most max bytes in all */
static int name_ok(const char *s, size_t max)
{
	size_t n = strlen(s), label = 0;

	if (n == 0 || n > max)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (c == '.') {
			if (label == 0 || s[i - 1] == '-')
				return 0;
			label = 0;
		} else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '_' ||
		    (c == '-' && label > 0)) {
			if (++label > 63)
				return 0;
		} else {
			return 0;
		}
	}
	return label > 0 && s[n - 1] != '-';
}

/* parse_bits - -b's value, or usage */
static int parse_bits(const char *s)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end != '\0' || v <= 0 || v > INT_MAX)
		usage("-b: expected a number of bits");
	return (int)v;
}

/* resolve_user - uid and group of -u USER; only root may give to others */
static void resolve_user(struct keygen *g)
{
	struct passwd *pw = getpwnam(g->user);

	if (pw == NULL)
		tool_die(EXIT_USAGE, "-u %s: no such user", g->user);
	if (geteuid() != 0 && pw->pw_uid != geteuid())
		tool_die(EXIT_USAGE, "-u %s: only root can give a key to "
		    "another user (run as root, or as %s)", g->user,
		    g->user);
	g->uid = pw->pw_uid;
	g->gid = pw->pw_gid;
	g->chown = 1;
}

/* path_join - DIR/NAME into out[PATH_TEXT_MAX], or exit */
static void path_join(char *out, const char *dir, const char *name,
    const char *suffix)
{
	int n = snprintf(out, PATH_TEXT_MAX, "%s/%s%s", dir, name, suffix);

	if (n < 0 || n >= PATH_TEXT_MAX)
		tool_die(EXIT_USAGE, "%s: path too long", dir);
}

/* generate - a new key pair, as PKCS#8 PEM into pem */
static void generate(const struct keygen *g, struct buf *pem)
{
	EVP_PKEY *pkey;
	BIO *bio;
	char *data;
	long n;

	if (g->ed25519)
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	else
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)g->bits);
	if (pkey == NULL)
		crypto_die("key generation");
	if ((bio = BIO_new(BIO_s_mem())) == NULL)
		crypto_die("memory BIO");
	/* PEM_write_bio_PrivateKey writes PKCS#8 ("BEGIN PRIVATE KEY") */
	if (!PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL))
		crypto_die("PEM encoding");
	n = BIO_get_mem_data(bio, &data);
	if (n <= 0 || buf_append(pem, data, (size_t)n) < 0)
		tool_die(EXIT_FAIL, "PEM encoding: %ld bytes, over %d", n,
		    PEM_MAX);
	OPENSSL_cleanse(data, (size_t)n);
	BIO_free(bio);
	EVP_PKEY_free(pkey);
}

/* tag_at - offset of the tag "name=" in a tag list, or -1 */
static long tag_at(const char *rec, size_t len, const char *name)
{
	size_t nl = strlen(name);

	for (size_t i = 0; i + nl < len; i++) {
		size_t j = i;

		if (i > 0 && rec[i - 1] != ';' && rec[i - 1] != ' ' &&
		    rec[i - 1] != '\t')
			continue;
		if (strncmp(rec + j, name, nl) != 0)
			continue;
		j += nl;
		while (j < len && (rec[j] == ' ' || rec[j] == '\t'))
			j++;
		if (j < len && rec[j] == '=')
			return (long)i;
	}
	return -1;
}

/* make_record - the engine's record for the key plus the flag tags
 * (t=, s=) before p=, checked by parsing it back */
static struct dkim_key *make_record(const struct keygen *g,
    const struct buf *pem, struct buf *rec)
{
	struct dkim_key *k;
	struct dkim_keyrec r;
	struct buf base, flags;
	const char *err;
	long p;

	if ((k = dkim_key_from_pem(pem->data, pem->len, &err)) == NULL)
		tool_die(EXIT_FAIL, "the new key does not load: %s", err);
	buf_init(&base, RECORD_MAX);
	buf_init(&flags, 64);
	if (dkim_key_record(k, &base) < 0)
		tool_die(EXIT_FAIL, "no DNS record for the new key");
	if (g->testing || g->strict)
		(void)buf_appendf(&flags, "t=%s%s%s; ", g->testing ? "y" : "",
		    g->testing && g->strict ? ":" : "", g->strict ? "s" : "");
	if (g->restrict_email)
		(void)buf_appends(&flags, "s=email; ");
	p = tag_at(base.data, base.len, "p");
	if (p < 0)
		tool_die(EXIT_FAIL, "the engine's record has no p=: %s",
		    base.data);
	if (buf_append(rec, base.data, (size_t)p) < 0 ||
	    buf_append(rec, flags.data, flags.len) < 0 ||
	    buf_append(rec, base.data + p, base.len - (size_t)p) < 0)
		tool_die(EXIT_FAIL, "DNS record over %d bytes", RECORD_MAX);
	buf_free(&base);
	buf_free(&flags);
	for (size_t i = 0; i < rec->len; i++)
		if (rec->data[i] < 0x20 || rec->data[i] > 0x7e ||
		    rec->data[i] == '"' || rec->data[i] == '\\')
			tool_die(EXIT_FAIL, "the record has a byte 0x%02x a "
			    "zone file would need escaped",
			    (unsigned char)rec->data[i]);
	if (dkim_keyrec_parse(rec->data, rec->len, &r, &err) < 0)
		tool_die(EXIT_FAIL, "the new record does not parse: %s", err);
	if (!dkim_keyrec_matches(&r, k) || r.revoked || r.testing !=
	    g->testing || r.strict != g->strict || !r.sha256_ok)
		tool_die(EXIT_FAIL, "the new record does not describe the "
		    "key: %s", rec->data);
	dkim_keyrec_free(&r);
	return k;
}

/* zone_text - the record as a zone file entry: owner, then the value in
 * quoted strings of at most 255 bytes (the tags before p= in the first,
 * p= cut in pieces after), in parentheses so it spans lines */
static void zone_text(const struct keygen *g, const struct dkim_key *k,
    const struct buf *rec, struct buf *out)
{
	size_t head = (size_t)tag_at(rec->data, rec->len, "p"), off = 0;
	int r = 0;

	if (g->domain)
		r |= buf_appendf(out, "%s._domainkey.%s.\tIN\tTXT\t( ",
		    g->selector, g->domain);
	else
		r |= buf_appendf(out, "%s._domainkey\tIN\tTXT\t( ",
		    g->selector);
	while (off < rec->len) {
		size_t n = rec->len - off;

		if (off < head && head - off <= TXT_STRING_MAX)
			n = head - off;		/* tags up to p= */
		if (n > TXT_STRING_MAX)
			n = TXT_STRING_MAX;
		if (off > 0)
			r |= buf_appends(out, "\n\t");
		r |= buf_appendc(out, '"');
		r |= buf_append(out, rec->data + off, n);
		r |= buf_appendc(out, '"');
		off += n;
	}
	r |= buf_appendf(out, " )  ; ----- DKIM key %s for %s (%s",
	    g->selector, g->domain ? g->domain : "this zone",
	    g->ed25519 ? "ed25519" : "rsa");
	if (!g->ed25519)
		r |= buf_appendf(out, " %d bits", dkim_key_bits(k));
	r |= buf_appends(out, ")\n");
	if (r < 0)
		tool_die(EXIT_FAIL, "zone text over %d bytes", ZONE_TEXT_MAX);
}

/* write_file - data into DIR/NAME: written to a 0600 temporary file
 * (O_CREAT|O_EXCL) beside it, given its mode and owner, synced, then
 * linked to the name (rename with -f); 0, or -1 with *err_r set and
 * nothing left behind */
static int write_file(const struct keygen *g, const char *path,
    const void *data, size_t len, mode_t mode, int give, const char **err_r)
{
	static char msg[PATH_TEXT_MAX + 128];
	char tmp[PATH_TEXT_MAX];
	const char *what = "write";
	size_t off = 0;
	int fd, e;

	/* DIR/.SELECTOR.private.XXXXXX: beside the target, so rename and
	   link stay in one file system */
	path_join(tmp, g->dir, ".", strrchr(path, '/') + 1);
	if (strlen(tmp) + 8 > sizeof(tmp))
		tool_die(EXIT_USAGE, "%s: path too long", g->dir);
	memcpy(tmp + strlen(tmp), ".XXXXXX", 8);
	if ((fd = mkstemp(tmp)) < 0) {	/* O_CREAT|O_EXCL, mode 0600 */
		snprintf(msg, sizeof(msg), "%s: cannot create a file there: "
		    "%s", g->dir, strerror(errno));
		*err_r = msg;
		return -1;
	}
	if (fchmod(fd, mode) < 0) {
		what = "chmod";
		goto fail;
	}
	if (give && g->chown && fchown(fd, g->uid, g->gid) < 0) {
		what = "chown";
		goto fail;
	}
	while (off < len) {
		ssize_t n = write(fd, (const char *)data + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto fail;
		off += (size_t)n;
	}
	if (fsync(fd) < 0) {
		what = "fsync";
		goto fail;
	}
	if (close(fd) < 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (g->force) {
		what = "rename";
		if (rename(tmp, path) < 0)
			goto fail;
	} else {
		what = "link";
		if (link(tmp, path) < 0)
			goto fail;
		unlink(tmp);
	}
	return 0;
fail:
	e = errno;
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	if (e == EEXIST)
		snprintf(msg, sizeof(msg), "%s exists (-f replaces it)", path);
	else
		snprintf(msg, sizeof(msg), "%s: %s: %s", path, what,
		    strerror(e));
	*err_r = msg;
	return -1;
}

/* fsync_dir - make the new names durable */
static void fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0) {
		(void)fsync(fd);
		close(fd);
	}
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "type", required_argument, NULL, 't' },
		{ "bits", required_argument, NULL, 'b' },
		{ "domain", required_argument, NULL, 'd' },
		{ "selector", required_argument, NULL, 's' },
		{ "directory", required_argument, NULL, 'D' },
		{ "user", required_argument, NULL, 'u' },
		{ "force", no_argument, NULL, 'f' },
		{ "restrict", no_argument, NULL, 'r' },
		{ "testmode", no_argument, NULL, 'T' },
		{ "nosubdomains", no_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 } };
	struct tool_opts opts;
	struct keygen g = { 0 };
	struct dkim_key *k;
	struct buf pem, rec, zone;
	char priv_path[PATH_TEXT_MAX], txt_path[PATH_TEXT_MAX];
	char *domain_copy = NULL;
	mode_t mask;
	const char *err;
	struct stat st;
	int ch;

	tool_set_name(PROG);
	tool_opts_init(&opts, help_text, NULL, argc);
	g.selector = "default";
	g.dir = ".";
	while ((ch = getopt_long(argc, argv, "t:b:d:s:D:u:frTShV", longopts,
	    NULL)) != -1) {
		if (tool_opts_take(&opts, ch, optarg))
			continue;
		switch (ch) {
		case 't':
			if (!strcasecmp(optarg, "rsa"))
				g.ed25519 = 0;
			else if (!strcasecmp(optarg, "ed25519"))
				g.ed25519 = 1;
			else
				usage("-t: expected rsa or ed25519");
			break;
		case 'b':
			g.bits = parse_bits(optarg);
			break;
		case 'd':
			g.domain = optarg;
			break;
		case 's':
			g.selector = optarg;
			break;
		case 'D':
			g.dir = optarg;
			break;
		case 'u':
			g.user = optarg;
			break;
		case 'f':
			g.force = 1;
			break;
		case 'r':
			g.restrict_email = 1;
			break;
		case 'T':
			g.testing = 1;
			break;
		case 'S':
			g.strict = 1;
			break;
		default:
			usage(NULL);
		}
	}
	if (optind < argc)
		usage("unexpected argument");
	if (g.ed25519 && g.bits)
		usage("-b: Ed25519 keys have no size to choose");
	if (!g.ed25519) {
		if (g.bits == 0)
			g.bits = RSA_BITS_DEFAULT;
		if (g.bits < RSA_BITS_MIN)
			tool_die(EXIT_USAGE, "-b %d: RSA keys under %d bits "
			    "are refused: verifiers treat their signatures "
			    "as failing (RFC 8301)", g.bits, RSA_BITS_MIN);
		if (g.bits > RSA_BITS_MAX)
			tool_die(EXIT_USAGE, "-b %d: over %d bits", g.bits,
			    RSA_BITS_MAX);
		if (g.bits < RSA_BITS_WARN)
			fprintf(stderr, PROG ": warning: %d-bit RSA key: RFC "
			    "8301 asks for %d bits or more\n", g.bits,
			    RSA_BITS_WARN);
	}
	if (g.domain) {
		size_t n = strlen(g.domain);

		if (n > 1 && g.domain[n - 1] == '.')
			g.domain = domain_copy = xstrndup(g.domain, n - 1);
		if (!name_ok(g.domain, DKIM_DOMAIN_MAX))
			usage("-d: not a domain name");
	}
	if (!name_ok(g.selector, DKIM_SELECTOR_MAX))
		usage("-s: a selector is DNS labels (letters, digits, '-'), "
		    "at most 63 bytes");
	if (stat(g.dir, &st) < 0 || !S_ISDIR(st.st_mode))
		tool_die(EXIT_USAGE, "-D %s: not a directory", g.dir);
	if (g.user)
		resolve_user(&g);
	path_join(priv_path, g.dir, g.selector, ".private");
	path_join(txt_path, g.dir, g.selector, ".txt");
	if (!g.force && (lstat(priv_path, &st) == 0 ||
	    lstat(txt_path, &st) == 0))
		tool_die(EXIT_FAIL, "%s exists (-f replaces it)",
		    lstat(priv_path, &st) == 0 ? priv_path : txt_path);

	buf_init(&pem, PEM_MAX);
	buf_init(&rec, RECORD_MAX);
	buf_init(&zone, ZONE_TEXT_MAX);
	generate(&g, &pem);
	k = make_record(&g, &pem, &rec);
	zone_text(&g, k, &rec, &zone);
	mask = umask(077);
	umask(mask);
	if (write_file(&g, priv_path, pem.data, pem.len, 0600, 1, &err) < 0)
		tool_die(EXIT_FAIL, "%s", err);
	OPENSSL_cleanse(pem.data, pem.len);
	if (write_file(&g, txt_path, zone.data, zone.len, 0644 & ~mask, 0,
	    &err) < 0)
		tool_die(EXIT_FAIL, "%s (the key is in %s)", err, priv_path);
	fsync_dir(g.dir);
	fputs(zone.data, stdout);
	if (fflush(stdout) != 0 || ferror(stdout))
		tool_die(EXIT_FAIL, "write error on standard output");
	dkim_key_free(&k);
	buf_free(&pem);
	buf_free(&rec);
	buf_free(&zone);
	free(domain_copy);
	return EXIT_OK;
}
