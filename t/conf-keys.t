#!/usr/bin/python3
# conf-keys.t - conf/DAEMON.conf documents every key of each daemon's
# config table (postern-spfd, postern-greyd, postern-dkim, postern-dmarc),
# with its real default, and is itself a valid config.  TAP.
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
#   5. postern-dmarc-report, which reads postern-dmarc.conf for its
#      report_*, store, DNS and mode keys (it has no -p: its keys are part
#      of postern-dmarc's table, so 1-4 cover them), loads the file as it
#      is and with every "#key = value" line enabled, and rejects a bad
#      value there (so the load is a real check), on an empty store with
#      a dry run: nothing is sent, nothing written.
#
# Environment: top_srcdir, top_builddir (set by make check; default: this
# tree).  Skips a daemon that is not built.  Runs no daemon and
# touches no network: -p and -t only parse.
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import postern_test as pt                                      # noqa: E402
from postern_test import ok, is_, diag                         # noqa: E402

KEY_LINE = re.compile(r"^(#?)([A-Za-z_][A-Za-z0-9_-]*)[ \t]*=")
DAEMONS = ("postern-spfd", "postern-greyd", "postern-dkim", "postern-dmarc",
           "postern-checks")
DIRS = {"postern-dkim": "milters", "postern-dmarc": "milters",
        "postern-checks": "milters"}
# (the others live in policyd/)


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


def uncomment(lines):
    """uncomment - the file's lines with every "#key = value" line
    enabled, and the keys so shown."""
    out, shown = [], set()
    for line in lines:
        m = KEY_LINE.match(line)
        if m and m.group(1) == "#":
            out.append(line[1:])
            shown.add(m.group(2))
        else:
            out.append(line)
    return out, shown


def run_prog(binary, *args):
    """run_prog - (exit status, stdout, stderr) of binary ARGS."""
    p = subprocess.run([binary] + list(args), stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=30)
    return (p.returncode, p.stdout.decode("utf-8", "replace"),
            p.stderr.decode("utf-8", "replace"))


def check(name):
    binary = os.path.join(pt.top_builddir(), DIRS.get(name, "policyd"),
                          name)
    conf = os.path.join(pt.top_srcdir(), "conf", name + ".conf")
    if not os.access(binary, os.X_OK):
        pt.skip("%s not built" % name)
        return

    def run(*args):
        return run_prog(binary, *args)

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
    uncommented, shown = uncomment(lines)
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


def check_report():
    """check_report - postern-dmarc-report loads conf/postern-dmarc.conf."""
    binary = os.path.join(pt.top_builddir(), "tools", "postern-dmarc-report")
    conf = os.path.join(pt.top_srcdir(), "conf", "postern-dmarc.conf")
    if not os.access(binary, os.X_OK):
        pt.skip("postern-dmarc-report not built", 4)
        return
    if not os.path.isfile(conf):
        pt.skip("conf/postern-dmarc.conf missing", 4)
        return
    with open(conf, encoding="utf-8") as f:
        lines = f.read().splitlines()
    tmp = tempfile.mkdtemp(prefix="conf-keys.")
    try:
        out = os.path.join(tmp, "out")
        os.mkdir(out)
        all_on = os.path.join(tmp, "all.conf")
        with open(all_on, "w", encoding="utf-8") as f:
            f.write("\n".join(uncomment(lines)[0]) + "\n")
        # an empty store (never created): nothing to report, nothing sent
        common = ["-o", "store=" + os.path.join(tmp, "store"), "-n", out]
        for label, path in (("as shipped", conf),
                            ("with its commented key lines enabled",
                             all_on)):
            rc, so, se = run_prog(binary, "-c", path, *common)
            if not is_(rc, 0, "postern-dmarc-report loads "
                       "conf/postern-dmarc.conf %s" % label):
                diag(so + se)
        # the same file with one out-of-range line appended: refused, so
        # the tool really reads the file's report_* keys
        bad = os.path.join(tmp, "bad.conf")
        with open(bad, "w", encoding="utf-8") as f:
            f.write("\n".join(uncomment(lines)[0]) +
                    "\nreport_interval_min = 1s\n")
        rc, so, se = run_prog(binary, "-c", bad, *common)
        is_(rc, 2, "postern-dmarc-report refuses a bad report_* value in "
            "the file (exit 2)")
        is_(os.listdir(out), [], "postern-dmarc-report wrote nothing")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


for d in DAEMONS:
    check(d)
check_report()
pt.done()
