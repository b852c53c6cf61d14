#!/usr/bin/python3
# conf-keys.t - conf/postern-spfd.conf documents every key of
# postern-spfd's config table, with its real default, and is itself a
# valid config.  TAP.
#
# What it checks
#   1. `postern-spfd -p` (built-in defaults only) prints the table;
#   2. every printed key appears in conf/postern-spfd.conf at the start of a
#      line as "key =" or "#key =" (the canonical spelling, so grep finds
#      it);
#   3. `postern-spfd -t -c conf/postern-spfd.conf` succeeds;
#   4. the file with every "#key = value" line uncommented still loads
#      (no misspelt key, no bad value among the commented defaults), and
#      gives each such key the same effective value as the built-in
#      default (the commented lines really show the defaults).
#
# Environment: top_srcdir, top_builddir (set by make check; default: this
# tree).  Skips when policyd/postern-spfd is not built.  Runs no daemon and
# touches no network: -p and -t only parse.
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import postern_test as pt                                      # noqa: E402
from postern_test import ok, is_, diag                         # noqa: E402

SPFD = os.path.join(pt.top_builddir(), "policyd", "postern-spfd")
CONF = os.path.join(pt.top_srcdir(), "conf", "postern-spfd.conf")
KEY_LINE = re.compile(r"^(#?)([A-Za-z_][A-Za-z0-9_-]*)[ \t]*=")

if not os.access(SPFD, os.X_OK):
    pt.skip_all("postern-spfd not built")


def run(*args):
    """run - postern-spfd with args; (exit status, stdout, stderr)."""
    p = subprocess.run([SPFD] + list(args), stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=30)
    return (p.returncode, p.stdout.decode("utf-8", "replace"),
            p.stderr.decode("utf-8", "replace"))


def parse_print(text):
    """parse_print - "key = value" lines of -p into an ordered dict."""
    out = {}
    for line in text.splitlines():
        k, sep, v = line.partition(" = ")
        if not sep:
            k, sep, v = line.partition(" =")
        if sep:
            out[k.strip()] = v.strip()
    return out


# -c /dev/null: the built-in defaults, whatever is installed in sysconfdir
rc, out, err = run("-p", "-c", "/dev/null")
if not is_(rc, 0, "postern-spfd -p runs"):
    diag(err)
    pt.done()
defaults = parse_print(out)
ok(len(defaults) > 10, "-p printed the config table (%d keys)"
   % len(defaults))

ok(os.path.isfile(CONF), "conf/postern-spfd.conf exists")
with open(CONF, encoding="utf-8") as f:
    lines = f.read().splitlines()

documented = {}          # key -> list of (commented, line number)
for n, line in enumerate(lines, 1):
    m = KEY_LINE.match(line)
    if m:
        documented.setdefault(m.group(2), []).append((m.group(1) == "#", n))

for key in defaults:
    ok(key in documented, "%s is in conf/postern-spfd.conf" % key)

rc, out, err = run("-t", "-c", CONF)
if not is_(rc, 0, "postern-spfd -t -c conf/postern-spfd.conf passes"):
    diag(out + err)

# Uncomment every "#key = value" line and check it parses and that the
# values shown are the defaults.
uncommented = []
shown = set()
for line in lines:
    m = KEY_LINE.match(line)
    if m and m.group(1) == "#":
        uncommented.append(line[1:])
        shown.add(m.group(2))
    else:
        uncommented.append(line)
with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as tf:
    tf.write("\n".join(uncommented) + "\n")
    tmpconf = tf.name
try:
    rc, out, err = run("-p", "-c", tmpconf)
    if is_(rc, 0, "the file with its commented key lines enabled passes"):
        effective = parse_print(out)
        for key in defaults:
            if key in shown:
                is_(effective.get(key), defaults[key],
                    "commented %s line shows the built-in default" % key)
    else:
        diag(out + err)
        pt.skip("the file with its commented key lines enabled does not "
                "load", len(shown & set(defaults)))
finally:
    os.unlink(tmpconf)

pt.done()
