#!/usr/bin/python3
"""checks-gen.py - deterministic inputs for the header_checks benchmarks.

Usage:
  checks-gen.py rules  N regexp|pcre [--seed S]   > table
  checks-gen.py headers COUNT [--seed S]          > headers

rules: a Postfix regexp: or pcre: table of N pattern rules (an "if"
line counts as one), shaped like the header_checks collections people
run: Subject words, sender domains, X-Mailer names, attachment names,
Received hosts, Reply-To addresses, Message-ID hosts; REJECT mostly,
some DISCARD/WARN/IGNORE/PREPEND/HOLD; an "if /^Subject:/ ... endif"
block every 150 rules; about 1 rule in 50 without a literal of 3 bytes
(the prefilter must run it on every header).  Rule i is the same in
every table made with the same seed, so the 10-rule table is the start
of the 1 000-rule one, which is the start of the 10 000-rule one.  The
regexp: and pcre: tables hold the same rules (pcre: spelled with \\d and
(?:...)), so a header matches the same rule in both.

headers: COUNT logical header lines (no folding, as postmap -q - reads
them): Received, DKIM-Signature, From, To, Subject, Date, Message-ID,
Content-Type, X-Mailer, List-Unsubscribe, ... with varied values.  About
2 % are built to match one of the first 10 000 generated rules (half of
those one of the first 10, a quarter one of the first 1 000), so every
table has a few matches; the rest are ordinary mail headers.

Trust: none; a developer tool.  Errors: bad arguments exit 2.
"""

import random
import sys

MAX_RULES = 10000	# the largest table headers are made to match
SYL_C = "b c d f g h k l m n p r s t v z br cl dr fl gr pr st tr ph ch".split()
SYL_V = "a e i o u ai ea io ou y".split()
TLDS = ["example", "example.com", "example.net", "example.org", "test"]
EXTS = ["exe", "scr", "pif", "com", "bat", "cmd", "vbs", "js", "jar", "lnk",
        "hta", "cpl", "msi", "wsf", "iso", "img"]
ACTIONS_SPAM = ["REJECT", "REJECT", "REJECT", "REJECT 5.7.1 Spam not welcome",
                "REJECT Message content rejected", "DISCARD", "HOLD",
                "WARN suspicious"]
FIRST = "anna ben carla dave emma frank gina hugo iris jack karin leo mia " \
    "nils olga paul rosa sam tina uwe vera will xena yann zoe".split()
LAST = "smith jones meyer schulz brown garcia martin rossi novak kim " \
    "larsen dubois silva tanaka okafor".split()
LEGIT_DOM = ["example.com", "example.org", "mail.example.net",
             "lists.example.org", "corp.example", "university.example.edu",
             "shop.example", "bank.example.com"]
SUBJ_WORDS = "meeting report invoice update project review agenda notes " \
    "draft schedule budget question release patch build weekly minutes " \
    "lunch travel contract offer feedback summary results call plan".split()


def word(rng, lo=2, hi=4):
    """word - a pronounceable token"""
    return "".join(rng.choice(SYL_C) + rng.choice(SYL_V)
                   for _ in range(rng.randint(lo, hi)))


class Rules:
    """Rules - rule i and a header that matches it, for i < MAX_RULES"""

    def __init__(self, seed):
        rng = random.Random(seed)
        seen = set()
        self.words = []
        while len(self.words) < 2 * MAX_RULES + 200:
            w = word(rng, 3, 4)
            if w not in seen:
                seen.add(w)
                self.words.append(w)
        self.seed = seed
        self.rules = []		# (kind, lines, sample header or None)
        self.count = 0
        i = 0
        while self.count < MAX_RULES:
            self._make(i)
            i += 1

    def _add(self, kind, lines, sample, n=1):
        self.rules.append((kind, lines, sample))
        self.count += n

    def _make(self, i):
        """_make - the generated rule(s) at position i"""
        rng = random.Random(self.seed * 1000003 + i)
        w = self.words[2 * i]
        w2 = self.words[2 * i + 1]
        if i < len(CLASSIC):
            lines, sample = CLASSIC[i]
            self._add("classic", [lines], sample)
            return
        if i % 150 == 75:
            # an if block: Subject rules tested only on Subject headers
            inner = []
            samples = []
            for k in range(4):
                iw = self.words[2 * i] + str(k)
                inner.append(("/\\b%s\\b/" % iw, "REJECT Subject %d.%d" % (i, k)))
                samples.append("Subject: special %s offer inside" % iw)
            lines = ["if /^Subject:/"] + ["%s %s" % r for r in inner] + ["endif"]
            self._add("if", lines, samples[rng.randrange(4)], n=5)
            return
        r = rng.random()
        act = rng.choice(ACTIONS_SPAM)
        if r < 0.30:
            pat = "/^Subject:.*\\b%s\\b/" % w
            sample = "Subject: Re: get %s today, %s" % (w, rng.choice(SUBJ_WORDS))
        elif r < 0.50:
            tld = rng.choice(TLDS)
            pat = "/^From:.*@(mail\\.)?%s[0-9]*\\.%s/" % (w, tld.replace(".", "\\."))
            sample = "From: \"%s\" <promo@%s%d.%s>" % (w2.title(), w, rng.randint(1, 99), tld)
        elif r < 0.58:
            pat = "/^X-Mailer: %s Mailer [0-9.]+/" % w.title()
            sample = "X-Mailer: %s Mailer %d.%d.%d" % (w.title(), rng.randint(1, 9),
                                                       rng.randint(0, 20), rng.randint(0, 999))
        elif r < 0.64:
            e1, e2 = rng.sample(EXTS, 2)
            pat = "/^Content-(Type|Disposition):.*name *= *\"?%s.*\\.(%s|%s)\"?/" % (w, e1, e2)
            sample = "Content-Type: application/octet-stream; name=\"%s_%d.%s\"" % (
                w, rng.randint(1, 9999), e2)
        elif r < 0.74:
            pat = "/^Received: from [^ ]+ \\(.*\\.%s\\.dyn\\.example \\[/" % w
            sample = ("Received: from unknown (host-%d.%s.dyn.example [198.51.100.%d]) by "
                      "mx.bench.example (Postfix) with ESMTP id %X" % (
                          rng.randint(1, 999), w, rng.randint(1, 254), rng.getrandbits(40)))
            act = rng.choice(["REJECT Dynamic host", "WARN dynamic", "HOLD"])
        elif r < 0.80:
            pat = "/^(Reply-To|Return-Path):.*<?%s@%s\\.example>?/" % (w, w2)
            sample = "Reply-To: <%s@%s.example>" % (w, w2)
            act = rng.choice(["DISCARD", "REJECT"])
        elif r < 0.86:
            pat = "/^X-%s-Tracking-%d:/" % (w.title(), i)
            sample = "X-%s-Tracking-%d: id=%x" % (w.title(), i, rng.getrandbits(64))
            act = "IGNORE"
        elif r < 0.92:
            pat = "/^Message-ID:.*@%s\\.%s\\.example>/" % (w, w2)
            sample = "Message-ID: <%x.%d@%s.%s.example>" % (rng.getrandbits(48), i, w, w2)
            act = rng.choice(["PREPEND X-Suspect: bulk %d" % i, "WARN bulk", "INFO bulk"])
        elif r < 0.98:
            pat = "/^List-Unsubscribe:.*https?:\\/\\/[a-z0-9.]*%s\\./" % w
            sample = "List-Unsubscribe: <https://click.%s.example/u?id=%d>" % (w, rng.randint(1, 10**6))
            act = rng.choice(["REJECT", "WARN list"])
        else:
            # no literal of 3 bytes: the prefilter cannot skip these
            n = 20 + i % 60
            k = rng.choice([0, 1, 2])
            if k == 0:
                pat = "/^[a-z]{2,}-[0-9]{%d}: [0-9a-f]{%d}$/" % (3 + i % 5, n)
                sample = "xy-%s: %s" % ("7" * (3 + i % 5), "a" * n)
            elif k == 1:
                pat = "/^(to|cc): ([^,]*,){%d}/" % n
                sample = "To: " + ", ".join("u%d@x.example" % j for j in range(n + 1))
            else:
                # flag i: case-sensitive (Postfix's default is caseless)
                pat = "/^[A-Za-z-]+: [A-Z0-9 !]{%d,}$/i" % n
                sample = "Subject: " + "FREE MONEY NOW !!! " * (n // 10 + 1)
            act = rng.choice(["WARN pattern", "REJECT"])
        self._add("gen", ["%s %s" % (pat, act)], sample)

    def table(self, n, flavour):
        """table - the first n rules as text"""
        out = ["# checks-gen.py rules %d %s --seed %d" % (n, flavour, self.seed)]
        count = 0
        for kind, lines, _ in self.rules:
            size = 5 if kind == "if" else 1
            if count + size > n:
                if count < n and kind == "if":
                    continue	# a smaller rule will follow
                if count >= n:
                    break
            out.extend(pcre(l) if flavour == "pcre" else l for l in lines)
            count += size
        return "\n".join(out) + "\n"

    def samples(self):
        """samples - (rule count before, sample) for rules with samples"""
        res = []
        count = 0
        for kind, _, sample in self.rules:
            res.append((count, sample))
            count += 5 if kind == "if" else 1
        return res


def pcre(line):
    """pcre - the same rule in pcre: spelling"""
    if line == "endif":
        return line
    p = line.replace("[0-9]*", "\\d*").replace("[0-9]+", "\\d+")
    p = p.replace("[0-9]{", "\\d{")
    out = []
    for j, c in enumerate(p):
        if c == "(" and (j == 0 or p[j - 1] != "\\") and p[j + 1:j + 2] != "?":
            out.append("(?:")
        else:
            out.append(c)
    return "".join(out)


CLASSIC = [
    ("/^Subject:.*\\bviagra\\b/ REJECT Spam subject", "Subject: cheap viagra online"),
    ("/^From:.*@spamdomain[0-9]+\\.example/ REJECT", "From: Sales <sales@spamdomain42.example>"),
    ("/^X-Mailer: Foo Mailer [0-9.]+/ REJECT", "X-Mailer: Foo Mailer 4.2.1"),
    ("/^Content-(Type|Disposition):.*name=.*\\.(exe|scr|pif)/ REJECT Executable attachment",
     "Content-Type: application/octet-stream; name=\"invoice.pdf.exe\""),
    ("/^X-Originating-IP:/ IGNORE", "X-Originating-IP: [203.0.113.9]"),
    ("/^Subject:.*\\b(lottery|inheritance) winner\\b/ REJECT 5.7.1 Scam",
     "Subject: You are the lottery winner"),
    ("/^Received: from .*\\.pool\\.dsl\\.example / WARN dsl pool",
     "Received: from host7.pool.dsl.example (host7.pool.dsl.example [192.0.2.7]) by mx"),
    ("/^X-Spam-Flag: YES/ HOLD", "X-Spam-Flag: YES"),
    ("/^Subject: .{200,}/ REJECT Subject too long", "Subject: " + "x" * 210),
    ("/^To:.*undisclosed-recipients/ PREPEND X-Postern-Note: undisclosed",
     "To: undisclosed-recipients:;"),
]


def header(rng):
    """header - one ordinary header line"""
    f, l = rng.choice(FIRST), rng.choice(LAST)
    dom = rng.choice(LEGIT_DOM)
    r = rng.random()
    if r < 0.22:
        return ("Received: from mail%d.%s (mail%d.%s [198.51.100.%d]) by mx.bench.example "
                "(Postfix) with ESMTPS id %X for <%s@%s>; Tue, %d Mar 2024 %02d:%02d:%02d +0000" % (
                    rng.randint(1, 40), dom, rng.randint(1, 40), dom, rng.randint(1, 254),
                    rng.getrandbits(44), rng.choice(FIRST), rng.choice(LEGIT_DOM),
                    rng.randint(1, 28), rng.randint(0, 23), rng.randint(0, 59), rng.randint(0, 59)))
    if r < 0.28:
        return ("DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=%s; s=sel%d; "
                "h=from:to:subject:date:message-id; bh=%s; b=%s" % (
                    dom, rng.randint(1, 9), "%043x" % rng.getrandbits(170),
                    "".join("%064x" % rng.getrandbits(256) for _ in range(5))))
    if r < 0.36:
        return "From: %s %s <%s.%s@%s>" % (f.title(), l.title(), f, l, dom)
    if r < 0.44:
        return "To: %s <%s@%s>" % (rng.choice(FIRST).title(), rng.choice(FIRST), rng.choice(LEGIT_DOM))
    if r < 0.52:
        return "Subject: %s%s %s %s" % (rng.choice(["", "Re: ", "Fwd: "]),
                                        rng.choice(SUBJ_WORDS).title(), rng.choice(SUBJ_WORDS),
                                        rng.choice(["for Q%d" % rng.randint(1, 4), "today",
                                                    "(draft %d)" % rng.randint(1, 9), "", "next week"]))
    if r < 0.58:
        return "Date: Tue, %d Mar 2024 %02d:%02d:%02d +0100" % (
            rng.randint(1, 28), rng.randint(0, 23), rng.randint(0, 59), rng.randint(0, 59))
    if r < 0.64:
        return "Message-ID: <%x.%x@%s>" % (rng.getrandbits(48), rng.getrandbits(32), dom)
    if r < 0.69:
        return rng.choice(["Content-Type: text/plain; charset=utf-8; format=flowed",
                           "Content-Type: multipart/alternative; boundary=\"b%x\"" % rng.getrandbits(64),
                           "Content-Type: application/pdf; name=\"report-%d.pdf\"" % rng.randint(1, 999),
                           "Content-Disposition: attachment; filename=\"scan%d.jpg\"" % rng.randint(1, 999)])
    if r < 0.72:
        return "MIME-Version: 1.0"
    if r < 0.75:
        return "X-Mailer: %s" % rng.choice(["Microsoft Outlook 16.0", "Apple Mail (2.3731)",
                                            "Thunderbird 115.8.1", "PHPMailer 6.8.1"])
    if r < 0.79:
        return "Authentication-Results: mx.bench.example; dkim=pass header.d=%s; spf=pass smtp.mailfrom=%s" % (dom, dom)
    if r < 0.82:
        return "List-Unsubscribe: <https://%s/unsubscribe?u=%d>, <mailto:leave@%s>" % (
            dom, rng.randint(1, 10**6), dom)
    if r < 0.85:
        return "Return-Path: <%s@%s>" % (f, dom)
    if r < 0.88:
        return "Content-Transfer-Encoding: %s" % rng.choice(["7bit", "quoted-printable", "base64"])
    if r < 0.91:
        return "Cc: %s <%s@%s>, %s <%s@%s>" % (f.title(), f, dom, l.title(), l, rng.choice(LEGIT_DOM))
    if r < 0.94:
        return "X-Spam-Status: No, score=%.1f required=5.0 tests=BAYES_00,DKIM_SIGNED" % rng.uniform(-3, 3)
    if r < 0.97:
        return "ARC-Seal: i=1; a=rsa-sha256; t=%d; cv=none; d=%s; s=arc; b=%s" % (
            rng.randint(1700000000, 1800000000), dom, "%0128x" % rng.getrandbits(512))
    return "X-%s: %s" % (rng.choice(["Priority", "MS-Has-Attach", "Auto-Response-Suppress",
                                     "Campaign-Id", "Feedback-ID"]), rng.getrandbits(32))


def main(argv):
    seed = 1
    if "--seed" in argv:
        k = argv.index("--seed")
        seed = int(argv[k + 1])
        del argv[k:k + 2]
    if len(argv) == 3 and argv[0] == "rules" and argv[2] in ("regexp", "pcre"):
        n = int(argv[1])
        if n < 1 or n > MAX_RULES:
            sys.exit("rules: N must be 1..%d" % MAX_RULES)
        sys.stdout.write(Rules(seed).table(n, argv[2]))
        return 0
    if len(argv) == 2 and argv[0] == "headers":
        rules = Rules(seed)
        samples = rules.samples()
        first10 = [s for c, s in samples if c < 10]
        first1k = [s for c, s in samples if c < 1000]
        every = [s for _, s in samples]
        rng = random.Random(seed + 7)
        out = []
        for _ in range(int(argv[1])):
            if rng.random() < 0.02:
                x = rng.random()
                pool = first10 if x < 0.5 else first1k if x < 0.75 else every
                out.append(rng.choice(pool))
            else:
                out.append(header(rng))
        sys.stdout.write("\n".join(out) + "\n")
        return 0
    sys.stderr.write(__doc__.split("\n\n")[1] + "\n")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
