#!/usr/bin/python3
"""
spf-suite.t - the standard SPF conformance suites (RFC 7208 and RFC 4408,
from pyspf's test/ directory) run through postern's SPF engine.  TAP.

What it does
    For each scenario (YAML document) of rfc7208-tests.yml and
    rfc4408-tests.yml it loads the scenario's zone data into one loopback
    test DNS server (t/testdns.py, UDP+TCP on 127.0.0.1) and runs
        $top_builddir/tools/postern-spfquery -o dns_server=127.0.0.1:PORT
            -o dns_timeout=1500ms -o spf_engine=ENGINE
            -o spf_default_explanation=DEFAULT -b
    once per scenario (a fresh process, so a fresh DNS cache), feeding one
    "IP<TAB>MAILFROM<TAB>HELO" line per test and reading one
    "RESULT<TAB>EXPLANATION[<TAB>detail]" line per test back.  A test
    passes when RESULT is the expected result (or one of them) and, when the
    test names an explanation, EXPLANATION (\\xNN escapes decoded) equals it
    byte for byte.  One TAP line per test, the plan at the end.

    "DEFAULT" is the default explanation pyspf's own driver sets; the suites
    expect it verbatim where no exp= applies.  No expected explanation uses
    %{r}, so no receiver name is passed (pyspf's driver uses "unknown").

    Differential check: every scenario is also run with
    spf_engine=libspf2.  Its results never fail the test (libspf2 is known
    to be non-conformant); disagreements with the native engine, libspf2's
    pass counts, crashes and time-outs are printed as "#" comments.

Environment
    SPF_SUITE_DIR        directory holding the two .yml files (only it
                         when set); else $top_srcdir/../shared/testdata/spf;
                         else <this dir>/../../shared/testdata/spf
    top_builddir         where tools/postern-spfquery is (else
                         $abs_top_builddir, else this file's parent)
    SPF_SUITE_ONLY       regular expression; run only tests whose
                         "suite/scenario-index/test" matches
    SPF_SUITE_NODIFF=1   skip the libspf2 differential run
    SPF_SUITE_VERBOSE=1  print the DNS queries of scenarios with failures
    SPF_SUITE_TIMEOUT    seconds allowed per tool run (default 60), plus
                         2 s per test of the scenario
Trust
    Test code.  The suites and the tool's output are parsed defensively; all
    traffic stays on 127.0.0.1.
Errors
    Failures are "not ok" lines with "#" diagnostics (inputs, the tool's
    detail field, exit status, stderr).  A tool crash or time-out fails the
    scenario's remaining tests and the run goes on.  Missing suites or tool:
    "1..0 # SKIP".  Only an internal error of this script exits non-zero.
"""

import os
import re
import signal
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True     # keep the source tree clean
sys.path.insert(0, HERE)
import testdns  # noqa: E402

SUITES = (('rfc7208', 'rfc7208-tests.yml', 203),
          ('rfc4408', 'rfc4408-tests.yml', 191))
ENGINE = 'native'
DIFF_ENGINE = 'libspf2'
DNS_TIMEOUT = '1500ms'
DEFAULT_EXPLANATION = 'DEFAULT'
SCENARIO_TIMEOUT = 60           # seconds per tool run ($SPF_SUITE_TIMEOUT)
PER_TEST_TIMEOUT = 2            # ... this much per test in the scenario
RESULTS = ('none', 'neutral', 'pass', 'fail', 'softfail', 'temperror',
           'permerror')
DIAG_MAX = 300                  # cut long diagnostics (stderr, details)
QUERY_LOG_LINES = 60


def env_path(*names):
    for n in names:
        v = os.environ.get(n)
        if v:
            return v
    return None


def find_suites():
    """The suite directory: $SPF_SUITE_DIR if set (and only it), else
    $top_srcdir/../shared/testdata/spf, else relative to this file."""
    d = os.environ.get('SPF_SUITE_DIR')
    top = os.environ.get('top_srcdir')
    if d:
        cand = d
    elif top:
        cand = os.path.join(top, '..', 'shared', 'testdata', 'spf')
    else:
        cand = os.path.join(HERE, '..', '..', 'shared', 'testdata', 'spf')
    if all(os.path.isfile(os.path.join(cand, f)) for _, f, _ in SUITES):
        return cand
    return None


def find_tool():
    top = env_path('top_builddir', 'abs_top_builddir') or \
        os.path.join(HERE, '..')
    tool = os.path.join(top, 'tools', 'postern-spfquery')
    if os.path.isfile(tool) and os.access(tool, os.X_OK):
        return tool
    return None


# load_suite - [(index, description, zonedata, [(name, test), ...]), ...]
def load_suite(path):
    import yaml
    with open(path, 'rb') as f:
        docs = [d for d in yaml.safe_load_all(f) if d is not None]
    out = []
    for i, d in enumerate(docs):
        tests = list((d.get('tests') or {}).items())
        out.append((i, str(d.get('description', '')), d.get('zonedata'),
                    tests))
    return out


def clean(s, limit=DIAG_MAX):
    """One line of text safe for a TAP line or comment."""
    if isinstance(s, bytes):
        s = s.decode('latin-1')
    s = ''.join(c if 0x20 <= ord(c) < 0x7f else '\\x%02x' % ord(c)
                for c in str(s))
    s = s.replace('#', '\\#')
    if len(s) > limit:
        s = s[:limit] + '...'
    return s


def unescape(b):
    return re.sub(rb'\\x([0-9A-Fa-f]{2})',
                  lambda m: bytes([int(m.group(1), 16)]), b)


class Run:
    """The outcome of one tool run: per-test (result, expl, detail)."""

    def __init__(self):
        self.lines = []         # parsed output lines, in order
        self.problem = None     # crash/time-out/short output, or None
        self.stderr = b''
        self.unsendable = set()  # tests whose input has TAB/CR/LF


# run_tool - one tool process for one scenario
def run_tool(tool, port, engine, tests):
    run = Run()
    data = b''
    for k, (_, t) in enumerate(tests):
        fields = [testdns.to_bytes(t.get(f, '') or '')
                  for f in ('host', 'mailfrom', 'helo')]
        if any(re.search(rb'[\t\r\n]', f) for f in fields):
            # The batch protocol cannot carry it: send a stand-in line
            # to keep the lines aligned, and fail the test.
            run.unsendable.add(k)
            fields = [re.sub(rb'[\t\r\n]', b' ', f) for f in fields]
        data += b'\t'.join(fields) + b'\n'
    cmd = [tool, '-o', 'dns_server=127.0.0.1:%d' % port,
           '-o', 'dns_timeout=%s' % DNS_TIMEOUT,
           '-o', 'spf_engine=%s' % engine,
           '-o', 'spf_default_explanation=%s' % DEFAULT_EXPLANATION,
           '-b']
    try:
        base = int(os.environ.get('SPF_SUITE_TIMEOUT', SCENARIO_TIMEOUT))
    except ValueError:
        base = SCENARIO_TIMEOUT
    limit = base + PER_TEST_TIMEOUT * len(tests)
    out = b''
    try:
        # A session of its own, so a time-out kills any children too.
        p = subprocess.Popen(cmd, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             start_new_session=True)
    except OSError as e:
        run.problem = 'cannot run: %s' % e
        return run
    try:
        out, run.stderr = p.communicate(data, timeout=limit)
        if p.returncode < 0:
            run.problem = 'killed by signal %d' % -p.returncode
        elif p.returncode != 0:
            run.problem = 'exit status %d' % p.returncode
    except subprocess.TimeoutExpired:
        run.problem = 'timed out after %d s' % limit
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except OSError:
            pass
        try:
            out, run.stderr = p.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            out = b''
        p.wait()
    lines = out.split(b'\n')
    if lines and lines[-1] == b'':
        lines.pop()
    for line in lines:
        f = line.rstrip(b'\r').split(b'\t', 2)
        while len(f) < 3:
            f.append(b'')
        run.lines.append((f[0].decode('latin-1'), unescape(f[1]), f[2]))
    if len(run.lines) != len(tests) and run.problem is None:
        run.problem = '%d output lines for %d tests' % (len(run.lines),
                                                         len(tests))
    return run


def expected_results(t):
    r = t.get('result')
    return [str(x) for x in r] if isinstance(r, list) else [str(r)]


# judge - (passed, got-text) for one test against one output line
def judge(t, line):
    if line is None:
        return False, 'no result'
    res, expl, _ = line
    want = expected_results(t)
    ok = res in want
    if ok and 'explanation' in t:
        ok = expl == testdns.to_bytes(t['explanation'])
    return ok, '%s (%s)' % (res, clean(expl))


def spec_text(t):
    spec = t.get('spec', '')
    if isinstance(spec, list):
        return ', '.join(str(x) for x in spec)
    return str(spec)


def want_text(t):
    want = expected_results(t)
    s = want[0] if len(want) == 1 else '[%s]' % ', '.join(want)
    if 'explanation' in t:
        s += ' (%s)' % clean(testdns.to_bytes(t['explanation']))
    return s


def short_result(line, t):
    if line is None:
        return '(none)'
    s = line[0] or '(empty)'
    if 'explanation' in t:
        s += '(%s)' % clean(line[1], 80)
    return s


def main():
    only = os.environ.get('SPF_SUITE_ONLY')
    only_re = re.compile(only) if only else None
    verbose = os.environ.get('SPF_SUITE_VERBOSE') not in (None, '', '0')
    do_diff = os.environ.get('SPF_SUITE_NODIFF') in (None, '', '0')

    suite_dir = find_suites()
    if suite_dir is None:
        print('1..0 # SKIP suites not found')
        return 0
    tool = find_tool()
    if tool is None:
        print('1..0 # SKIP postern-spfquery not built')
        return 0

    print('# suites: %s' % os.path.normpath(suite_dir))
    print('# tool: %s' % tool)
    n = 0
    passed = {}
    totals = {}
    diff_passed = {}
    diff_total = {}
    diff_sanitizer = []
    diffs = []              # (label, native, libspf2, expected)
    diff_missing = []       # labels without a libspf2 result
    non_preferred = []      # passed, but not with the first listed result

    srv = testdns.TestDNS('127.0.0.1', 0)
    try:
        for suite, fname, want_count in SUITES:
            scenarios = load_suite(os.path.join(suite_dir, fname))
            count = sum(len(s[3]) for s in scenarios)
            if count != want_count and not only_re:
                print('# warning: %s has %d tests, %d expected'
                      % (fname, count, want_count))
            passed[suite] = totals[suite] = 0
            diff_passed[suite] = diff_total[suite] = 0
            for idx, desc, zonedata, tests in scenarios:
                if only_re:
                    tests = [(name, t) for name, t in tests if only_re.search(
                        '%s/%d/%s' % (suite, idx, name))]
                if not tests:
                    continue
                try:
                    srv.set_zone(zonedata)
                    zone_err = None
                except ValueError as e:
                    zone_err = 'zone data not servable: %s' % e
                srv.clear_queries()
                run = None
                if zone_err is None:
                    run = run_tool(tool, srv.port, ENGINE, tests)
                queries = srv.queries()
                if run is not None and run.problem:
                    print('# %s scenario %d (%s): %s%s' % (
                        suite, idx, clean(desc), run.problem,
                        '; stderr: ' + clean(run.stderr)
                        if run.stderr else ''))
                failed_here = False
                for k, (name, t) in enumerate(tests):
                    n += 1
                    totals[suite] += 1
                    label = '%s %s / %s' % (suite, clean(desc), clean(name))
                    line = None
                    if run is not None and k < len(run.lines):
                        line = run.lines[k]
                    ok, got = judge(t, line)
                    if zone_err:
                        got = zone_err
                    elif k in run.unsendable:
                        ok, got = False, 'input with TAB/CR/LF not sendable'
                    if ok:
                        passed[suite] += 1
                        print('ok %d - %s' % (n, label))
                        want = expected_results(t)
                        if len(want) > 1 and line[0] != want[0]:
                            non_preferred.append('%s/%s: %s (%s preferred)'
                                                 % (suite, name, line[0],
                                                    want[0]))
                        continue
                    failed_here = True
                    print('not ok %d - %s: got %s want %s'
                          % (n, label, got, want_text(t)))
                    print('#   host=%s mailfrom=%s helo=%s spec=%s' % (
                        clean(t.get('host', '')), clean(t.get('mailfrom', '')),
                        clean(t.get('helo', '')), clean(spec_text(t))))
                    if line is not None and line[2]:
                        print('#   detail: %s' % clean(line[2]))
                    if line is None and run is not None and run.problem:
                        print('#   tool: %s' % run.problem)
                sys.stdout.flush()
                if failed_here and verbose:
                    print('#   DNS queries of this scenario (%d):'
                          % len(queries))
                    for q in queries[:QUERY_LOG_LINES]:
                        print('#     %s %s %s -> %s' % tuple(
                            clean(x) for x in q))

                if not do_diff or zone_err:
                    continue
                drun = run_tool(tool, srv.port, DIFF_ENGINE, tests)
                if drun.problem and (
                        drun.problem in ('exit status 86', 'exit status 87')
                        or 'Sanitizer' in (drun.stderr or '')
                        or 'runtime error:' in (drun.stderr or '')):
                    diff_sanitizer.append('%s/%d: %s' % (
                        suite, idx, clean(drun.stderr or drun.problem, 300)))
                if drun.problem:
                    msg = '# differential: %s run of %s scenario %d (%s): ' \
                          '%s%s' % (DIFF_ENGINE, suite, idx, clean(desc),
                                    drun.problem, '; stderr: ' +
                                    clean(drun.stderr, 160)
                                    if drun.stderr else '')
                    print(msg)
                for k, (name, t) in enumerate(tests):
                    diff_total[suite] += 1
                    dlabel = '%s/%s' % (suite, name)
                    dline = drun.lines[k] if k < len(drun.lines) else None
                    nline = None
                    if run is not None and k < len(run.lines):
                        nline = run.lines[k]
                    if dline is None:
                        diff_missing.append(dlabel)
                        continue
                    if judge(t, dline)[0] and k not in drun.unsendable:
                        diff_passed[suite] += 1
                    same = nline is not None and nline[0] == dline[0]
                    if same and 'explanation' in t:
                        same = nline[1] == dline[1]
                    if not same:
                        diffs.append((dlabel, short_result(nline, t),
                                      short_result(dline, t), want_text(t)))
    finally:
        srv.close()

    for s in non_preferred:
        print('# note: %s' % s)
    if do_diff:
        print('# differential: %d cases where %s and %s disagree'
              % (len(diffs), DIFF_ENGINE, ENGINE))
        for label, a, b, w in diffs:
            print('# diff: %s: %s=%s %s=%s expected=%s'
                  % (clean(label), ENGINE, a, DIFF_ENGINE, b, w))
        if diff_missing:
            print('# differential: %d cases without a %s result: %s'
                  % (len(diff_missing), DIFF_ENGINE,
                     clean(' '.join(diff_missing), 2000)))
        print('# %s: %s' % (DIFF_ENGINE, ', '.join(
            '%s %d/%d passed' % (s, diff_passed[s], diff_total[s])
            for s, _, _ in SUITES if s in diff_total)))
    if do_diff:
        # a wrong libspf2 answer is libspf2's business; a sanitizer report
        # while our DNS layer and vetting drive it is ours
        n += 1
        print('%s %d - %s runs without sanitizer reports'
              % ('not ok' if diff_sanitizer else 'ok', n, DIFF_ENGINE))
        for d in diff_sanitizer[:5]:
            print('#   %s' % d)
    print('# ' + ', '.join('%s: %d/%d passed' % (s, passed[s], totals[s])
                           for s, _, _ in SUITES if s in totals))
    print('1..%d' % n)
    return 0


if __name__ == '__main__':
    sys.exit(main())
