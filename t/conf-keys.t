#!/usr/bin/python3
# conf-keys.t - conf/DAEMON.conf documents every key of each daemon's
# config table (postern-spfd, postern-greyd, postern-dkim), with its real
# default, and is itself a
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
# tree).  Skips a daemon that is not built.  Runs no daemon and
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

KEY_LINE = re.compile(r"^(#?)([A-Za-z_][A-Za-z0-9_-]*)[ \t]*=")
DAEMONS = ("postern-spfd", "postern-greyd", "postern-dkim")
DIRS = {"postern-dkim": "milters"}     # the others live in policyd/


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


def check(name):
    binary = os.path.join(pt.top_builddir(), DIRS.get(name, "policyd"),
                          name)
    conf = os.path.join(pt.top_srcdir(), "conf", name + ".conf")
    if not os.access(binary, os.X_OK):
        pt.skip("%s not built" % name)
        return

    def run(*args):
        p = subprocess.run([binary] + list(args), stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=30)
        return (p.returncode, p.stdout.decode("utf-8", "replace"),
                p.stderr.decode("utf-8", "replace"))

    # -c /dev/null: the built-in defaults, whatever is in sysconfdir
    rc, out, err = run("-p", "-c", "/dev/null")
    if not is_(rc, 0, "%s -p runs" % name):
        diag(err)
        return
    defaults = parse_print(out)
    ok(len(defaults) > 10, "%s -p printed its config table (%d keys)"
       % (name, len(defaults)))
    if not ok(os.path.isfile(conf), "conf/%s.conf exists" % name):
        return
    with open(conf, encoding="utf-8") as f:
        lines = f.read().splitlines()
    documented = {}
    for line in lines:
        m = KEY_LINE.match(line)
        if m:
            documented.setdefault(m.group(2), []).append(m.group(1))
    for key in defaults:
        ok(key in documented, "%s is in conf/%s.conf" % (key, name))
    rc, out, err = run("-t", "-c", conf)
    if not is_(rc, 0, "%s -t -c conf/%s.conf passes" % (name, name)):
        diag(out + err)
    # every "#key = value" line enabled: it loads and shows the defaults
    uncommented, shown = [], set()
    for line in lines:
        m = KEY_LINE.match(line)
        if m and m.group(1) == "#":
            uncommented.append(line[1:])
            shown.add(m.group(2))
        else:
            uncommented.append(line)
    with tempfile.NamedTemporaryFile("w", suffix=".conf",
                                     delete=False) as tf:
        tf.write("\n".join(uncommented) + "\n")
        tmpconf = tf.name
    try:
        rc, out, err = run("-p", "-c", tmpconf)
        if is_(rc, 0, "%s: the file with its commented key lines "
               "enabled loads" % name):
            effective = parse_print(out)
            for key in defaults:
                if key in shown:
                    is_(effective.get(key), defaults[key],
                        "%s: commented %s line shows the built-in default"
                        % (name, key))
        else:
            diag(out + err)
    finally:
        os.unlink(tmpconf)


for d in DAEMONS:
    check(d)
pt.done()
