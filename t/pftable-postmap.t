#!/usr/bin/python3
# pftable-postmap.t - common/pftable.c against Postfix itself: one table
# of about 100 varied rules (if/endif nesting, negation, flags, comments,
# continuation lines, odd delimiters, $n/${n}/$(n) substitution, lines
# Postfix warns about and skips) loaded as regexp: and as pcre:, looked
# up through "postmap -q -" and t/pftable_tool with many inputs; the
# outputs and the load warnings must be identical.  Inputs holding a
# newline (folded headers) cannot go through "postmap -q -"; they go one
# by one through "postmap -q KEY".  The tool also runs with the
# prefilter off, which must not change anything.
#
# Known, documented differences are kept out of the table: POSIX
# leftmost-longest captures ("(a|ab)" gives $1 = "ab" with glibc), glibc's
# ^/$ in mid-pattern next to a '\n' the pattern consumed, and non-ASCII
# input (Postfix checks UTF-8 and compiles pcre with PCRE2_UTF).
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import postern_test as pt                                      # noqa: E402
from postern_test import ok, is_, diag                         # noqa: E402

TOOL = os.path.join(pt.top_builddir(), "t", "pftable_tool")
POSTMAP = None
for d in ("/usr/sbin", "/usr/bin", "/usr/lib/postfix/sbin"):
    if os.access(os.path.join(d, "postmap"), os.X_OK):
        POSTMAP = os.path.join(d, "postmap")
if POSTMAP is None:
    pt.skip_all("postmap not installed")

TABLE = r"""# pftable-postmap.t rules
/^Subject:.*viagra/          REJECT spam 1
/^Subject:.*\bcheap\b/       REJECT cheap
/^Subject: (re|fw): (.*)$/   PREPEND X-Re: [$2]
/^From: .*@(example\.(com|net))$/ WARN from ${1} $(2)
/^To: friend@public\.com/    REJECT
!/^[A-Za-z-]+:/              NOT-A-HEADER
# continuation lines: the result and the pattern itself
/^X-Cont:/    INFO one
    two
	three
/^X-Split: a
 b/           SPLIT
  # a comment line between parts of a logical line is skipped

if /^Received:/
/from localhost/            DUNNO local
if !/ by mx\./
/with ESMTP/                WARN esmtp not mx
endif
/^Received: from (\[[0-9.]+\])/ INFO received $1
endif
IF /^X-Nest:/
if /a/
if /b/
if /c/
/d/         NEST abcd
endif
/e/         NEST abe
ENDIF
/f/         NEST af
endif
/./         NEST any
endif
#/^X-Commented:/ REJECT
~^X-Tilde: ~/x/~   TILDE
#^X-Hash:# HASH
,^X-Comma\,: (.*),  COMMA [$1]
/^X-Slash: a\/b/   SLASH
/^X-Class: [[:digit:]]{3}[[:space:]]+[^[:alpha:]]$/ CLASS
/^X-Bracket: []x]+$/ BRACKET
/^X-Bslash: [\]$/  BSLASH-IN-CLASS
/^X-Word: .*\<foo\>/ WORD
/^X-Esc: \d\./     ESC-D
/^X-Case: MiXeD/i  CASE-SENSITIVE
/^x-case: mixed/   CASE-INSENSITIVE
/^X-Dup: (ab)\1$/  DUP $1$1
/^X-Count: a{2,3}$/ COUNT
/^X-Count2: a{,2}b/ COUNT2
/^X-Opt: colou?r/  OPT
/^X-Alt: (one|two|three)$/ ALT $1
/^X-Dollar: (.*)/  DOLLAR $$ $${1} $1$$
/^X-Empty: (x)?y/  EMPTY[$1]
/^X-Plus: a+\+/    PLUS
/^X-Stack: (ab)+*c/ STACK
/^X-Brace: a\{/    BRACE
/^X-Paren: a)/     PAREN
/^X-NoResult:/
/^X-Long: (.*)$/   LONG ${1}${1}${1}${1}
/^X-Bre: a+\(b\)\1/x BRE $1
/^X-Dot: a.b$/     DOT
/^X-Dot2: a.b$/m   DOT-M
/^X-Caret:.*^b/m   CARET-M
/^X-Tab:	x/       TAB
!/^X-Neg:.*ok/     NEG
/^X-Neg:/          NEG-OK
if !/^X-Ifneg:/
/^X-Inside:/       INSIDE
endif
/^X-Ifneg:/        IFNEG
/^X-Trail: x$/     TRAIL
/^X-Sub: (a)(b)(c)(d)(e)(f)(g)(h)(i)(j)$/ SUB $10 ${10} $(9)
# bad lines: Postfix warns and skips them
/^X-Bad1: (/       BAD1
/^X-Bad2: [z-a]/   BAD2
/^X-Bad3: x/Q      BAD3
/^X-Bad4: x        BAD4
/^X-Bad5: (x)/     BAD5 $2
!/^X-Bad6: (x)/    BAD6 $1
/^X-Bad7: x/       BAD7 $x
/^X-Bad8: x/       BAD8 ${1
/^X-Bad9: x/       BAD9 $ 1
/^X-Bad10: x/      BAD10 $0
/^X-Bad11: x/      BAD11 $1x
/^X-Bad12: [[:nope:]]/ BAD12
/^X-Bad13: a{3,1}/ BAD13
/^X-Bad14: *x/     BAD14
endif
if /^X-Bad15:/ junk
endif
ENDIF
frobnicate
!
/^X-Pcre: \d+\s(?:x|y)$/ PCRE-ONLY
/^X-Flags: A.B$/s  S-FLAG
/^X-Flags2: a b c/x X-FLAG
/^X-Flags3: a$/E   E-FLAG
/^X-Flags4: (a+)/U U-FLAG $1
/X-Flags5/A        A-FLAG
/^X-Flags6: z/X    X-OBSOLETE
/^X-Lazy: (a+?)a/  LAZY $1
/^X-Look: (?=abc)a/ LOOK
/^X-Unicode: \x41/ HEXESC
/^Subject:/        SUBJECT-OTHER
/^(.*)$/           DEFAULT [$1]
"""

INPUTS = r"""Subject: buy viagra now
Subject: very cheap stuff
Subject: cheapest
Subject: re: hello world
Subject: FW: forwarded
Subject: plain
From: someone@example.com
From: someone@example.net
From: someone@example.org
To: friend@public.com
To: friend@publicXcom
not a header line
X-Cont: 1
X-Split: a b
X-Split: ab
Received: from localhost by mx.example
Received: from [192.0.2.1] by mx.example with ESMTP
Received: from [192.0.2.1] by relay.example with ESMTP
Received: from [192.0.2.1] by relay.example
Received: from host
X-Nest: abcd
X-Nest: abe
X-Nest: abx
X-Nest: af
X-Nest: zz
X-Nest: bcd
X-Commented: 1
X-Tilde: /x/
X-Hash: 1
X-Comma,: c1
X-Slash: a/b
X-Class: 123  !
X-Class: 123  a
X-Bracket: ]x]x
X-Bslash: \
X-Word: a foo b
X-Word: afoob
X-Esc: d.
X-Esc: 1.
X-Case: MiXeD
X-Case: mixed
x-case: MIXED
X-Dup: abab
X-Dup: abAB
X-Count: aa
X-Count: aaaa
X-Count2: b
X-Count2: aab
X-Count2: aaab
X-Opt: color
X-Opt: colour
X-Alt: two
X-Alt: four
X-Dollar: v
X-Empty: y
X-Empty: xy
X-Plus: aa+
X-Plus: aa
X-Stack: ababc
X-Stack: c
X-Brace: a{
X-Paren: a)
X-NoResult: 1
X-Long: 0123456789
X-Bre: a+bb
X-Bre: aabb
X-Dot: axb
X-Dot2: axb
X-Caret: a
X-Tab:	x
X-Neg: ok
X-Neg: no
X-Inside: 1
X-Ifneg: 1
X-Trail: x
X-Sub: abcdefghij
X-Bad1: (
X-Bad2: z
X-Bad3: x
X-Bad5: x
X-Bad7: x
X-Bad10: x
X-Bad14: x
X-Bad15: 1
X-Pcre: 12 x
X-Pcre: 12 z
X-Flags: a.b
X-Flags: A
X-Flags2: abc
X-Flags2: a b c
X-Flags3: a
X-Flags4: aaa
X-Flags5
 X-Flags5
X-Flags6: z
X-Lazy: aaa
X-Look: abc
X-Unicode: A
X-Unicode: a
Subject: "quoted" \ backslash $dollar

   leading blanks
a
"""

# newline inside: folded headers, one by one through postmap -q KEY
MULTI = [
    "Subject: a\n\tviagra",
    "Subject: re: x\n y",
    "X-Dot: a\nb",
    "X-Dot2: a\nb",
    "X-Caret: a\nb",
    "X-Flags: a\nb",
    "X-Flags3: a\n",
    "X-Trail: x\n",
    "X-Cont: 1\n 2",
    "Received: from localhost\n\tby mx.example",
    "X-Class: 123\n\n!",
    "X-Long: a\nb",
]


def run(argv, stdin=None):
    p = subprocess.run(argv, input=stdin, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    return p.stdout.decode("latin-1"), p.stderr.decode("latin-1")


def warnings(err):
    out = []
    for line in err.splitlines():
        line = line.replace("postmap: ", "", 1)
        # lookup-time remarks of postmap's dict layer, not the table's
        if "should return NO RESULT" in line or \
           "empty string result is not allowed" in line:
            continue
        out.append(line)
    return out


def main():
    tmp = tempfile.mkdtemp(prefix="pftable-postmap.")
    open(os.path.join(tmp, "main.cf"), "w").close()
    path = os.path.join(tmp, "checks")
    with open(path, "w") as f:
        f.write(TABLE)
    inputs = INPUTS.encode()
    for kind in ("regexp", "pcre"):
        spec = "%s:%s" % (kind, path)
        pm_out, pm_err = run([POSTMAP, "-c", tmp, "-q", "-", spec], inputs)
        ok(pm_out.count("\n") > 80, "%s: postmap answers %d inputs" %
           (kind, pm_out.count("\n")))
        for flag in ([], ["-n"]):
            out, err = run([TOOL] + flag + [spec], inputs)
            what = "%s%s" % (kind, " (no prefilter)" if flag else "")
            if not is_(out, pm_out, "%s: same results as postmap" % what):
                a, b = pm_out.splitlines(), out.splitlines()
                for x, y in zip(a, b):
                    if x != y:
                        diag("postmap %r / pftable %r" % (x, y))
            is_(warnings(err), warnings(pm_err),
                "%s: same load warnings as postmap" % what)
        bad = []
        for key in MULTI:
            want, _ = run([POSTMAP, "-c", tmp, "-q", key, spec])
            got, _ = run([TOOL, "-q", key, spec])
            if got != want:
                bad.append((key, want, got))
        ok(not bad, "%s: %d multi-line inputs as postmap -q KEY" %
           (kind, len(MULTI)))
        for key, want, got in bad:
            diag("%r: postmap %r, pftable %r" % (key, want, got))
    for name in os.listdir(tmp):
        os.unlink(os.path.join(tmp, name))
    os.rmdir(tmp)
    pt.done()


main()
