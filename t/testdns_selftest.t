#!/usr/bin/python3
"""
testdns_selftest.t - TAP test of t/testdns.py, the loopback test DNS server.

What it is
    Starts TestDNS on 127.0.0.1 (and ::1 when available), sends raw DNS
    queries over UDP and TCP, and parses the answers with a parser of its
    own (independent of the server's code), checking: answer records of
    every type the SPF suites use, raw-byte and zero-string TXT, SPF->TXT
    generation, NXDOMAIN/NODATA with SOA, CNAME chasing and loops, TIMEOUT
    (dropped queries, pyspf's ordering rule), NONE, truncation and EDNS,
    TCP framing and pipelining, REFUSED opcodes, junk input, zone swaps,
    zone-data errors and the stand-alone program.
Trust
    Test code: talks only to the server it started, on loopback.
Errors
    Failures are "not ok" TAP lines with a "#" diagnostic; an unexpected
    exception ends the script with a non-zero status (an ERROR under the
    automake TAP driver).
"""

import ipaddress
import os
import random
import select
import socket
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True     # keep the source tree clean
sys.path.insert(0, HERE)
import testdns  # noqa: E402

TIMEOUT_WAIT = 0.4      # how long a dropped query must stay unanswered
REPLY_WAIT = 3.0

T = {'A': 1, 'NS': 2, 'CNAME': 5, 'SOA': 6, 'PTR': 12, 'MX': 15, 'TXT': 16,
     'AAAA': 28, 'OPT': 41, 'SPF': 99, 'AXFR': 252, 'ANY': 255}


class Tap:
    """Minimal TAP producer."""

    def __init__(self):
        self.n = 0
        self.failed = 0

    def ok(self, cond, name, diag=None):
        self.n += 1
        print('%s %d - %s' % ('ok' if cond else 'not ok', self.n, name))
        if not cond:
            self.failed += 1
            if diag:
                for line in str(diag).splitlines():
                    print('#   ' + line)
        sys.stdout.flush()
        return cond

    def eq(self, got, want, name):
        return self.ok(got == want, name, 'got:  %r\nwant: %r' % (got, want))

    def done(self):
        print('1..%d' % self.n)


tap = Tap()


# ---------------------------------------------------------------- wire

def enc_name(name):
    if isinstance(name, str):
        name = name.encode('latin-1')
    name = name.rstrip(b'.')
    out = b''
    if name:
        for l in name.split(b'.'):
            out += bytes([len(l)]) + l
    return out + b'\0'


def build_query(name, qtype, qid=0x1234, rd=True, edns=None, opcode=0,
                qclass=1, edns_version=0):
    flags = (opcode << 11) | (0x0100 if rd else 0)
    ar = 1 if edns is not None else 0
    msg = struct.pack('!6H', qid, flags, 1, 0, 0, ar)
    msg += enc_name(name) + struct.pack('!HH', qtype, qclass)
    if edns is not None:
        msg += b'\0' + struct.pack('!HHIH', T['OPT'], edns,
                                   edns_version << 16, 0)
    return msg


class ParseError(Exception):
    pass


def read_name(msg, off):
    labels = []
    jumps = 0
    end = None
    while True:
        if off >= len(msg):
            raise ParseError('name past end')
        n = msg[off]
        if n & 0xC0 == 0xC0:
            jumps += 1
            if jumps > 50 or off + 1 >= len(msg):
                raise ParseError('bad pointer')
            if end is None:
                end = off + 2
            off = ((n & 0x3F) << 8) | msg[off + 1]
            continue
        if n & 0xC0:
            raise ParseError('bad label type')
        off += 1
        if n == 0:
            break
        labels.append(msg[off:off + n])
        off += n
    return b'.'.join(labels).decode('latin-1'), (end if end else off)


def parse_rdata(msg, off, rdlen, rtype):
    end = off + rdlen
    rd = msg[off:end]
    if rtype == T['A']:
        return str(ipaddress.IPv4Address(rd))
    if rtype == T['AAAA']:
        return str(ipaddress.IPv6Address(rd))
    if rtype in (T['CNAME'], T['PTR']):
        name, e = read_name(msg, off)
        if e != end:
            raise ParseError('name rdata length')
        return name
    if rtype == T['MX']:
        name, e = read_name(msg, off + 2)
        if e != end:
            raise ParseError('MX rdata length')
        return (struct.unpack('!H', rd[:2])[0], name)
    if rtype in (T['TXT'], T['SPF']):
        strings = []
        i = 0
        while i < len(rd):
            n = rd[i]
            if i + 1 + n > len(rd):
                raise ParseError('TXT string past rdata')
            strings.append(rd[i + 1:i + 1 + n])
            i += 1 + n
        return strings
    if rtype == T['SOA']:
        mname, o = read_name(msg, off)
        rname, o = read_name(msg, o)
        if o + 20 != end:
            raise ParseError('SOA rdata length')
        return (mname, rname) + struct.unpack('!5I', msg[o:o + 20])
    return rd


def parse_msg(msg):
    if len(msg) < 12:
        raise ParseError('short message')
    qid, flags, qd, an, ns, ar = struct.unpack('!6H', msg[:12])
    r = {'id': qid, 'qr': flags >> 15, 'opcode': (flags >> 11) & 15,
         'aa': (flags >> 10) & 1, 'tc': (flags >> 9) & 1,
         'rd': (flags >> 8) & 1, 'ra': (flags >> 7) & 1,
         'rcode': flags & 15, 'question': [], 'an': [], 'ns': [], 'ar': [],
         'size': len(msg)}
    off = 12
    for _ in range(qd):
        name, off = read_name(msg, off)
        qt, qc = struct.unpack('!HH', msg[off:off + 4])
        off += 4
        r['question'].append((name, qt, qc))
    for sect, count in (('an', an), ('ns', ns), ('ar', ar)):
        for _ in range(count):
            name, off = read_name(msg, off)
            if off + 10 > len(msg):
                raise ParseError('RR header past end')
            rt, rc, ttl, rdlen = struct.unpack('!HHIH', msg[off:off + 10])
            off += 10
            if off + rdlen > len(msg):
                raise ParseError('rdata past end')
            data = parse_rdata(msg, off, rdlen, rt)
            off += rdlen
            r[sect].append({'name': name, 'type': rt, 'class': rc,
                            'ttl': ttl, 'rdlen': rdlen, 'data': data})
    if off != len(msg):
        raise ParseError('trailing bytes')
    return r


def udp_exchange(srv, payload, wait=REPLY_WAIT, family=socket.AF_INET):
    s = socket.socket(family, socket.SOCK_DGRAM)
    try:
        s.sendto(payload, (srv.host, srv.port))
        rl, _, _ = select.select([s], [], [], wait)
        if not rl:
            return None
        return s.recv(65535)
    finally:
        s.close()


def udp(srv, name, qtype, wait=REPLY_WAIT, **kw):
    raw = udp_exchange(srv, build_query(name, T.get(qtype, qtype), **kw),
                       wait=wait)
    return parse_msg(raw) if raw is not None else None


def tcp_connect(srv):
    fam = socket.AF_INET6 if ':' in srv.host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(REPLY_WAIT)
    s.connect((srv.host, srv.port))
    return s


def tcp_read(s, wait=REPLY_WAIT):
    s.settimeout(wait)
    try:
        hdr = b''
        while len(hdr) < 2:
            c = s.recv(2 - len(hdr))
            if not c:
                return None
            hdr += c
        n = struct.unpack('!H', hdr)[0]
        body = b''
        while len(body) < n:
            c = s.recv(n - len(body))
            if not c:
                return None
            body += c
        return body
    except socket.timeout:
        return None


def tcp(srv, name, qtype, **kw):
    s = tcp_connect(srv)
    try:
        q = build_query(name, T.get(qtype, qtype), **kw)
        s.sendall(struct.pack('!H', len(q)) + q)
        raw = tcp_read(s)
        return parse_msg(raw) if raw is not None else None
    finally:
        s.close()


def rdatas(r, rtype=None):
    return [rr['data'] for rr in r['an']
            if rtype is None or rr['type'] == T[rtype]]


def soa_ok(r):
    return (len(r['ns']) == 1 and r['ns'][0]['type'] == T['SOA']
            and r['ns'][0]['ttl'] == 300 and r['ns'][0]['data'][-1] == 300)


# ---------------------------------------------------------------- zone

ZONE = {
    'example.com': [{'A': '192.0.2.1'}, {'A': '192.0.2.2'},
                    {'SPF': 'v=spf1 -all'}, {'MX': [10, 'mail.example.com']},
                    {'MX': '20 mx2.example.com'},
                    {'AAAA': 'CAFE:BABE::1'}],
    'mail.example.com': [{'A': '192.0.2.10'}],
    'txtown.example.com': [{'SPF': 'v=spf1 spf'}, {'TXT': 'v=spf1 txt'}],
    'multi.example.com': [{'TXT': ['part1', 'part2']}],
    'null.example.com': [{'SPF': ['v=spf1 ip4:', '192.0.2.5 -all']},
                         {'SPF': []}],
    'raw.example.com': [{'TXT': '\xef\xbb\xbfExplanation'}],
    'utf8.example.com': [{'TXT': 'caf\u00e9 \u20ac'}],
    'ctrl.example.com': [{'SPF': 'v=spf1 a:ctrl.example.com\rptr -all'},
                         {'A': '192.0.2.3'}],
    'nul.example.com': [{'SPF': 'v=spf1 a:foo.example.com\x00'}],
    'long.example.com': [{'TXT': 'x' * 600}],
    'big.example.com': [{'TXT': 'record %02d ' % i + 'y' * 30}
                        for i in range(20)],
    'huge.example.com': [{'TXT': chr(0x61 + i) * 250} for i in range(8)],
    'alias.example.com': [{'CNAME': 'Example.COM.'}],
    'alias2.example.com': [{'CNAME': 'alias.example.com'}],
    'dangling.example.com': [{'CNAME': 'nowhere.example.com'}],
    'loop1.example.com': [{'CNAME': 'loop2.example.com'}],
    'loop2.example.com': [{'CNAME': 'LOOP1.example.com'}],
    'self.example.com': [{'CNAME': 'SELF.example.com.'}],
    'cname-to-timeout.example.com': [{'CNAME': 'timeout.example.com'}],
    'timeout.example.com': ['TIMEOUT'],
    'txt-then-timeout.example.com': [{'TXT': 'v=spf1 -all'}, 'TIMEOUT'],
    'spf-txtnone-timeout.example.com': [{'SPF': 'v=spf1 -all'},
                                        {'TXT': 'NONE'}, 'TIMEOUT'],
    'spf-gen-timeout.example.com': [{'SPF': 'v=spf1 -all'}, 'TIMEOUT'],
    'type-timeout.example.com': [{'A': 'TIMEOUT'}, {'TXT': 'hello'}],
    'spf-type-timeout.example.com': [{'SPF': 'TIMEOUT'}, {'A': '192.0.2.4'}],
    'none.example.com': ['NONE'],
    'txtnone.example.com': [{'SPF': 'v=spf1 -all'}, {'TXT': 'NONE'}],
    '4.3.2.1.in-addr.arpa': [{'PTR': 'mail.example.com'}],
    'Upper.Example.NET': [{'A': '198.51.100.7'}],
    'macro%percent  space%20url-space.example.com': [{'A': '1.2.3.4'}],
}


def test_records(srv):
    r = udp(srv, 'example.com', 'A')
    tap.ok(r is not None, 'A query answered over UDP')
    tap.eq((r['qr'], r['aa'], r['tc'], r['rd'], r['ra'], r['rcode'],
            r['id']), (1, 1, 0, 1, 0, 0, 0x1234),
           'header: QR AA RD copied, no RA, NOERROR, id echoed')
    tap.eq(r['question'], [('example.com', 1, 1)], 'question echoed')
    tap.eq(sorted(rdatas(r, 'A')), ['192.0.2.1', '192.0.2.2'], 'two A')
    tap.eq([rr['ttl'] for rr in r['an']], [300, 300], 'TTL 300')
    r = udp(srv, 'example.com', 'A', rd=False)
    tap.eq(r['rd'], 0, 'RD clear stays clear (RD is ignored)')
    r = udp(srv, 'EXAMPLE.Com', 'A')
    tap.eq((r['rcode'], len(r['an']), r['an'][0]['name']),
           (0, 2, 'EXAMPLE.Com'),
           'names are case-insensitive; answer echoes question case')
    r = udp(srv, 'upper.example.net', 'A')
    tap.eq(rdatas(r, 'A'), ['198.51.100.7'], 'mixed-case zone name found')
    r = udp(srv, 'example.com', 'AAAA')
    tap.eq(rdatas(r, 'AAAA'), ['cafe:babe::1'], 'AAAA')
    r = udp(srv, 'example.com', 'MX')
    tap.eq(sorted(rdatas(r, 'MX')),
           [(10, 'mail.example.com'), (20, 'mx2.example.com')],
           'MX [pref, host] and "pref host" forms')
    r = udp(srv, '4.3.2.1.in-addr.arpa', 'PTR')
    tap.eq(rdatas(r, 'PTR'), ['mail.example.com'], 'PTR')
    r = udp(srv, 'example.com', 'SPF')
    tap.eq(rdatas(r, 'SPF'), [[b'v=spf1 -all']], 'type 99 SPF answered')
    r = udp(srv, 'example.com', 'TXT')
    tap.eq(rdatas(r, 'TXT'), [[b'v=spf1 -all']], 'SPF record also as TXT')
    r = udp(srv, 'mail.example.com', 'SPF')
    tap.ok(r['rcode'] == 0 and not r['an'] and soa_ok(r),
           'type 99 with no SPF record: NODATA with SOA', r)
    r = udp(srv, 'txtown.example.com', 'TXT')
    tap.eq(rdatas(r, 'TXT'), [[b'v=spf1 txt']],
           'own TXT: SPF not copied to TXT')
    r = udp(srv, 'txtown.example.com', 'SPF')
    tap.eq(rdatas(r, 'SPF'), [[b'v=spf1 spf']], 'own TXT: SPF still served')
    r = udp(srv, 'multi.example.com', 'TXT')
    tap.eq(rdatas(r, 'TXT'), [[b'part1', b'part2']],
           'TXT list = one record, several character-strings')
    r = udp(srv, 'null.example.com', 'TXT')
    got = rdatas(r, 'TXT')
    tap.eq(sorted(got), sorted([[b'v=spf1 ip4:', b'192.0.2.5 -all'], []]),
           'SPF [] gives a TXT record with zero strings')
    tap.eq(sorted(rr['rdlen'] for rr in r['an']), [0, 27],
           'zero-string TXT has RDLENGTH 0')
    r = udp(srv, 'raw.example.com', 'TXT')
    tap.eq(rdatas(r, 'TXT'), [[b'\xef\xbb\xbfExplanation']],
           '\\xEF\\xBB\\xBF served as raw bytes EF BB BF')
    r = udp(srv, 'utf8.example.com', 'TXT')
    tap.eq(rdatas(r, 'TXT'), [['caf\u00e9 \u20ac'.encode('utf-8')]],
           'text beyond Latin-1 served as UTF-8')
    r = udp(srv, 'ctrl.example.com', 'TXT')
    tap.eq(rdatas(r, 'TXT'), [[b'v=spf1 a:ctrl.example.com\rptr -all']],
           'control character kept as a raw byte')
    r = udp(srv, 'nul.example.com', 'TXT')
    tap.eq(rdatas(r, 'TXT'), [[b'v=spf1 a:foo.example.com\x00']],
           'NUL kept as a raw byte')
    r = tcp(srv, 'long.example.com', 'TXT')
    tap.eq([[len(s) for s in d] for d in rdatas(r, 'TXT')], [[255, 255, 90]],
           'a 600-byte string split into 255-byte character-strings')
    r = udp(srv, 'macro%percent  space%20url-space.example.com', 'A')
    tap.eq(rdatas(r, 'A'), ['1.2.3.4'], 'name with spaces and % served')


def test_negative(srv):
    r = udp(srv, 'nowhere.example.com', 'A')
    tap.ok(r['rcode'] == 3 and r['aa'] == 1 and not r['an'] and soa_ok(r),
           'unknown name: NXDOMAIN, SOA in authority (TTL/minimum 300)', r)
    tap.eq(r['ns'][0]['name'], 'example.com', 'SOA owner is the apex')
    r = udp(srv, 'mail.example.com', 'TXT')
    tap.ok(r['rcode'] == 0 and not r['an'] and soa_ok(r),
           'name without the type: NOERROR/NODATA with SOA', r)
    r = udp(srv, 'none.example.com', 'A')
    tap.ok(r['rcode'] == 0 and not r['an'] and soa_ok(r),
           'NONE: name exists (NOERROR), no A', r)
    r = udp(srv, 'none.example.com', 'TXT')
    tap.ok(r['rcode'] == 0 and not r['an'], 'NONE: no TXT either', r)
    r = udp(srv, 'txtnone.example.com', 'TXT')
    tap.ok(r['rcode'] == 0 and not r['an'],
           'TXT: NONE suppresses the TXT copy of SPF', r)
    r = udp(srv, 'txtnone.example.com', 'SPF')
    tap.eq(rdatas(r, 'SPF'), [[b'v=spf1 -all']], 'TXT: NONE keeps SPF')
    r = udp(srv, 'sub.example.com', 'A')
    tap.eq(r['rcode'], 3, 'subdomain of a zone name not listed: NXDOMAIN')
    r = udp(srv, '', 'A')
    tap.eq(r['rcode'], 3, 'root name: NXDOMAIN')


def test_cname(srv):
    r = udp(srv, 'alias.example.com', 'A')
    tap.eq([(rr['name'], rr['type']) for rr in r['an']],
           [('alias.example.com', 5), ('Example.COM', 1),
            ('Example.COM', 1)], 'CNAME chased to in-zone target')
    tap.eq(r['an'][0]['data'], 'Example.COM', 'CNAME target as written')
    r = udp(srv, 'alias2.example.com', 'TXT')
    tap.eq([rr['type'] for rr in r['an']], [5, 5, 16],
           'CNAME chain of two, then TXT')
    r = udp(srv, 'alias.example.com', 'CNAME')
    tap.eq([(rr['type'], rr['data']) for rr in r['an']],
           [(5, 'Example.COM')], 'CNAME query gets the CNAME only')
    r = udp(srv, 'alias.example.com', 'PTR')
    tap.ok(r['rcode'] == 0 and [rr['type'] for rr in r['an']] == [5]
           and soa_ok(r), 'CNAME to a name without the type: CNAME + SOA', r)
    r = udp(srv, 'dangling.example.com', 'A')
    tap.ok(r['rcode'] == 3 and [rr['type'] for rr in r['an']] == [5],
           'CNAME to an unknown name: NXDOMAIN with the CNAME', r)
    r = udp(srv, 'loop1.example.com', 'A')
    tap.ok(r is not None and r['rcode'] == 0 and
           [(rr['name'].lower(), rr['data'].lower()) for rr in r['an']] ==
           [('loop1.example.com', 'loop2.example.com'),
            ('loop2.example.com', 'loop1.example.com')],
           'CNAME loop: chain given once, then stop', r)
    r = udp(srv, 'self.example.com', 'TXT')
    tap.ok(r is not None and len(r['an']) == 1 and r['an'][0]['type'] == 5,
           'CNAME to itself: one CNAME', r)
    r = udp(srv, 'cname-to-timeout.example.com', 'A', wait=TIMEOUT_WAIT)
    tap.ok(r is None, 'CNAME to a TIMEOUT name: dropped', r)


def test_timeout(srv):
    for qt in ('A', 'TXT', 'SPF', 'MX', 'AAAA', 'PTR'):
        raw = udp_exchange(srv, build_query('timeout.example.com', T[qt]),
                           wait=TIMEOUT_WAIT)
        tap.ok(raw is None, 'TIMEOUT: %s query not answered (UDP)' % qt)
    raw = udp_exchange(srv, build_query('TimeOut.Example.Com', T['TXT']),
                       wait=TIMEOUT_WAIT)
    tap.ok(raw is None, 'TIMEOUT: case-insensitive')
    # pyspf ordering: a type with records listed before TIMEOUT answers.
    r = udp(srv, 'txt-then-timeout.example.com', 'TXT')
    tap.eq(rdatas(r, 'TXT') if r else None, [[b'v=spf1 -all']],
           'TXT listed before TIMEOUT is answered')
    raw = udp_exchange(srv, build_query('txt-then-timeout.example.com',
                                        T['SPF']), wait=TIMEOUT_WAIT)
    tap.ok(raw is None, 'SPF (not listed before TIMEOUT) is dropped')
    raw = udp_exchange(srv, build_query('spf-txtnone-timeout.example.com',
                                        T['TXT']), wait=TIMEOUT_WAIT)
    tap.ok(raw is None, 'SPF, TXT: NONE, TIMEOUT: TXT dropped')
    r = udp(srv, 'spf-txtnone-timeout.example.com', 'SPF')
    tap.eq(rdatas(r, 'SPF') if r else None, [[b'v=spf1 -all']],
           'SPF, TXT: NONE, TIMEOUT: SPF answered')
    raw = udp_exchange(srv, build_query('spf-gen-timeout.example.com',
                                        T['TXT']), wait=TIMEOUT_WAIT)
    tap.ok(raw is None, 'SPF, TIMEOUT: generated TXT counts as listed last')
    raw = udp_exchange(srv, build_query('type-timeout.example.com', T['A']),
                       wait=TIMEOUT_WAIT)
    tap.ok(raw is None, 'A: TIMEOUT drops A queries')
    r = udp(srv, 'type-timeout.example.com', 'TXT')
    tap.eq(rdatas(r, 'TXT') if r else None, [[b'hello']],
           'A: TIMEOUT leaves TXT answered')
    for qt in ('SPF', 'TXT'):
        raw = udp_exchange(srv, build_query('spf-type-timeout.example.com',
                                            T[qt]), wait=TIMEOUT_WAIT)
        tap.ok(raw is None, 'SPF: TIMEOUT drops %s (TXT copy too)' % qt)
    # A dropped query leaves no late answer behind.
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.sendto(build_query('timeout.example.com', 1, qid=1), (srv.host,
                                                          srv.port))
    s.sendto(build_query('example.com', 1, qid=2), (srv.host, srv.port))
    rl, _, _ = select.select([s], [], [], REPLY_WAIT)
    first = parse_msg(s.recv(65535)) if rl else None
    rl, _, _ = select.select([s], [], [], TIMEOUT_WAIT)
    tap.ok(first is not None and first['id'] == 2 and not rl,
           'only the non-TIMEOUT query of two is answered')
    s.close()
    # TCP: dropped query, same connection keeps serving.
    c = tcp_connect(srv)
    q1 = build_query('timeout.example.com', 16, qid=7)
    q2 = build_query('example.com', 1, qid=8)
    c.sendall(struct.pack('!H', len(q1)) + q1 + struct.pack('!H', len(q2))
              + q2)
    raw = tcp_read(c)
    r = parse_msg(raw) if raw else None
    tap.ok(r is not None and r['id'] == 8 and len(r['an']) == 2,
           'TCP: TIMEOUT query dropped, pipelined next query answered', r)
    tap.ok(tcp_read(c, TIMEOUT_WAIT) is None, 'TCP: no answer for TIMEOUT')
    c.close()


def test_tcp_and_size(srv):
    r = tcp(srv, 'example.com', 'A')
    tap.eq(sorted(rdatas(r, 'A')) if r else None,
           ['192.0.2.1', '192.0.2.2'], 'TCP on the same port as UDP')
    c = tcp_connect(srv)
    msgs = b''
    for i, n in enumerate(('example.com', 'mail.example.com',
                           'nowhere.example.com')):
        q = build_query(n, 1, qid=100 + i)
        msgs += struct.pack('!H', len(q)) + q
    c.sendall(msgs[:5])
    time.sleep(0.1)
    c.sendall(msgs[5:])
    got = [parse_msg(tcp_read(c)) for _ in range(3)]
    tap.eq([(g['id'], g['rcode']) for g in got],
           [(100, 0), (101, 0), (102, 3)],
           'TCP: three pipelined queries, split writes, answered in order')
    c.close()

    r = udp(srv, 'big.example.com', 'TXT')
    tap.ok(r['tc'] == 1 and r['size'] <= 512 and not r['an']
           and r['question'] == [('big.example.com', 16, 1)],
           'UDP without EDNS, answer > 512: TC, question only', r['size'])
    r = udp(srv, 'big.example.com', 'TXT', edns=1232)
    tap.ok(r['tc'] == 0 and len(r['an']) == 20 and 512 < r['size'] <= 1232,
           'UDP with EDNS 1232: full answer (%d bytes)' % r['size'])
    opt = [x for x in r['ar'] if x['type'] == T['OPT']]
    tap.ok(len(opt) == 1 and opt[0]['name'] == '' and opt[0]['class'] >= 512
           and opt[0]['ttl'] == 0, 'OPT echoed in the answer', r['ar'])
    r = udp(srv, 'example.com', 'A')
    tap.eq(r['ar'], [], 'no OPT in the answer to a query without one')
    r = udp(srv, 'huge.example.com', 'TXT', edns=1232)
    tap.ok(r['tc'] == 1 and r['size'] <= 1232 and not r['an']
           and len(r['ar']) == 1, 'UDP answer > EDNS payload: TC + OPT')
    r = udp(srv, 'huge.example.com', 'TXT', edns=4096)
    tap.ok(r['tc'] == 0 and len(r['an']) == 8,
           'UDP with EDNS 4096: full %d-byte answer' % r['size'])
    r = udp(srv, 'big.example.com', 'TXT', edns=100)
    tap.eq(r['tc'], 1, 'EDNS payload below 512 counts as 512')
    r = tcp(srv, 'huge.example.com', 'TXT')
    tap.ok(r['tc'] == 0 and len(r['an']) == 8 and
           sorted(d[0][:1] for d in rdatas(r, 'TXT')) ==
           [bytes([0x61 + i]) for i in range(8)],
           'TCP: full answer regardless of size')
    r = udp(srv, 'example.com', 'A', edns=1232, edns_version=1)
    opt = [x for x in r['ar'] if x['type'] == T['OPT']]
    tap.ok(r['rcode'] == 0 and len(opt) == 1 and opt[0]['ttl'] >> 24 == 1
           and not r['an'], 'EDNS version 1: BADVERS', r)


def test_refuse_and_junk(srv):
    for op, name in ((1, 'IQUERY'), (2, 'STATUS'), (4, 'NOTIFY'),
                     (5, 'UPDATE')):
        r = udp(srv, 'example.com', 'A', opcode=op)
        tap.ok(r is not None and r['rcode'] == 5 and r['opcode'] == op
               and not r['an'], 'opcode %s: REFUSED' % name, r)
    r = udp(srv, 'example.com', 'A', qclass=3)
    tap.eq(r['rcode'], 5, 'class CH: REFUSED')
    r = tcp(srv, 'example.com', 'AXFR')
    tap.eq(r['rcode'], 5, 'AXFR: REFUSED')
    r = udp(srv, 'example.com', 'ANY')
    tap.ok(r['rcode'] == 0 and len(r['an']) >= 6, 'ANY: all records')

    hdr = struct.pack('!6H', 0x4242, 0x0100, 1, 0, 0, 0)
    cases = [
        ('qdcount 0', struct.pack('!6H', 0x4242, 0, 0, 0, 0, 0), 1),
        ('qdcount 2', struct.pack('!6H', 0x4242, 0, 2, 0, 0, 0)
         + enc_name('a') + b'\0\1\0\1' + enc_name('b') + b'\0\1\0\1', 1),
        ('label past end', hdr + b'\x3fabc', 1),
        ('pointer loop', hdr + b'\xc0\x0c\0\1\0\1', 1),
        ('forward pointer past end', hdr + b'\xc0\xff\0\1\0\1', 1),
        ('label type 01', hdr + b'\x41abc\0\0\1\0\1', 1),
        ('no qtype', hdr + enc_name('example.com') + b'\0', 1),
        ('name over 255', hdr + (b'\x3f' + b'a' * 63) * 5 + b'\0\0\1\0\1',
         1),
        ('arcount past end', struct.pack('!6H', 0x4242, 0, 1, 0, 0, 3)
         + enc_name('example.com') + b'\0\1\0\1', 1),
        ('OPT in answer section', struct.pack('!6H', 0x4242, 0, 1, 1, 0, 0)
         + enc_name('example.com') + b'\0\1\0\1'
         + b'\0' + struct.pack('!HHIH', 41, 512, 0, 0), 1),
        ('two OPTs', struct.pack('!6H', 0x4242, 0, 1, 0, 0, 2)
         + enc_name('example.com') + b'\0\1\0\1'
         + (b'\0' + struct.pack('!HHIH', 41, 512, 0, 0)) * 2, 1),
        ('OPT question', build_query('example.com', 41, qid=0x4242), 1),
        ('response (QR set)', struct.pack('!6H', 0x4242, 0x8000, 1, 0, 0, 0)
         + enc_name('example.com') + b'\0\1\0\1', None),
        ('empty datagram', b'', None),
        ('11 bytes', b'\x42' * 11, None),
    ]
    for what, payload, rcode in cases:
        raw = udp_exchange(srv, payload, wait=TIMEOUT_WAIT if rcode is None
                           else REPLY_WAIT)
        if rcode is None:
            tap.ok(raw is None, 'junk (%s): dropped' % what)
            continue
        try:
            r = parse_msg(raw) if raw is not None else None
        except ParseError:
            r = None
        tap.ok(r is not None and r['id'] == 0x4242 and r['qr'] == 1
               and r['rcode'] == rcode and not r['an'],
               'junk (%s): FORMERR' % what, r if r else raw)
    rnd = random.Random(4711)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for i in range(300):
        n = rnd.choice((rnd.randrange(0, 40), rnd.randrange(0, 600)))
        blob = bytes(rnd.randrange(256) for _ in range(n))
        if i % 3 == 0 and len(blob) > 12:
            blob = hdr + blob[12:]  # a plausible header, junk after
        s.sendto(blob, (srv.host, srv.port))
    # Drain whatever came back; every reply must parse as a message.
    bad = 0
    deadline = time.time() + 1.0
    while time.time() < deadline:
        rl, _, _ = select.select([s], [], [], 0.2)
        if not rl:
            break
        try:
            parse_msg(s.recv(65535))
        except ParseError:
            bad += 1
    s.close()
    tap.eq(bad, 0, '300 random datagrams: every reply well formed')
    r = udp(srv, 'example.com', 'A')
    tap.ok(r is not None and len(r['an']) == 2, 'still serving after junk')

    # TCP junk.
    c = tcp_connect(srv)
    c.sendall(struct.pack('!H', 5) + b'\x01\x02\x03\x04\x05')
    q = build_query('mail.example.com', 1, qid=55)
    c.sendall(struct.pack('!H', len(q)) + q)
    raw = tcp_read(c)
    r = parse_msg(raw) if raw else None
    tap.ok(r is not None and r['id'] == 55,
           'TCP: short junk message skipped, next query answered')
    c.sendall(struct.pack('!H', 0))
    tap.ok(tcp_read(c, 2.0) is None, 'TCP: zero-length message closes')
    c.close()
    for junk in (b'\x00', b'\xff\xff' + b'x' * 100, os.urandom(3000)):
        c = tcp_connect(srv)
        try:
            c.sendall(junk)
        except OSError:
            pass
        c.close()
    r = tcp(srv, 'example.com', 'A')
    tap.ok(r is not None and len(r['an']) == 2,
           'TCP: still serving after half messages and random bytes')


def test_zone_swap(srv):
    srv.set_zone({'example.com': [{'A': '198.51.100.1'}]})
    r = udp(srv, 'example.com', 'A')
    tap.eq(rdatas(r, 'A'), ['198.51.100.1'], 'set_zone: new data served')
    r = udp(srv, 'mail.example.com', 'A')
    tap.eq(r['rcode'], 3, 'set_zone: old names gone')
    bad = [
        ('unsupported type', {'x.example': [{'SRV': '0 0 25 a'}]}),
        ('bad A', {'x.example': [{'A': '1.2.3'}]}),
        ('bad AAAA', {'x.example': [{'AAAA': '1.2.3.4'}]}),
        ('bad MX', {'x.example': [{'MX': [10]}]}),
        ('bad entry word', {'x.example': ['FOO']}),
        ('bad CNAME target', {'x.example': [{'CNAME': 'a..b'}]}),
        ('not a mapping', 'example.com'),
    ]
    for what, z in bad:
        try:
            srv.set_zone(z)
            raised = False
        except ValueError:
            raised = True
        tap.ok(raised, 'set_zone rejects %s with ValueError' % what)
    r = udp(srv, 'example.com', 'A')
    tap.eq(rdatas(r, 'A'), ['198.51.100.1'], 'a rejected zone keeps the old')
    srv.set_zone([{'list.example': [{'A': '192.0.2.99'}]},
                  ('pair.example', [{'TXT': 'p'}])])
    r = udp(srv, 'list.example', 'A')
    r2 = udp(srv, 'pair.example', 'TXT')
    tap.ok(rdatas(r, 'A') == ['192.0.2.99'] and
           rdatas(r2, 'TXT') == [[b'p']], 'set_zone accepts a list form')
    tap.ok(any(q[1] == 'list.example.' for q in srv.queries()),
           'query log records queries')


def test_ipv6():
    try:
        srv = testdns.TestDNS('::1', 0, {'six.example': [{'AAAA': '::1'}]})
    except OSError as e:
        print('ok %d - # SKIP no IPv6 loopback (%s)' % (tap.n + 1, e))
        tap.n += 1
        return
    try:
        raw = udp_exchange(srv, build_query('six.example', 28),
                           family=socket.AF_INET6)
        r = parse_msg(raw) if raw else None
        tap.ok(r is not None and rdatas(r, 'AAAA') == ['::1'],
               'serves on ::1 (UDP)')
        r = tcp(srv, 'six.example', 'AAAA')
        tap.ok(r is not None and rdatas(r, 'AAAA') == ['::1'],
               'serves on ::1 (TCP)')
    finally:
        srv.close()


def test_program():
    yml = ('---\ndescription: first\ntests: {}\nzonedata:\n'
           '  prog.example:\n    - A: 192.0.2.1\n'
           '---\ndescription: second\ntests: {}\nzonedata:\n'
           '  prog.example:\n    - A: 192.0.2.2\n'
           '    - SPF: "v=spf1 a:\\xEF\\xBB\\xBFx -all"\n')
    with tempfile.NamedTemporaryFile('w', suffix='.yml', delete=False) as f:
        f.write(yml)
        path = f.name
    try:
        out = subprocess.run([sys.executable, os.path.join(HERE, 'testdns.py'),
                              '--zone', path, '--list'],
                             capture_output=True, text=True, timeout=30)
        tap.eq(out.stdout, '0\tfirst\n1\tsecond\n', 'program --list')
        p = subprocess.Popen([sys.executable,
                              os.path.join(HERE, 'testdns.py'),
                              '--port', '0', '--zone', path,
                              '--scenario', '1'],
                             stdout=subprocess.PIPE, text=True)
        try:
            rl, _, _ = select.select([p.stdout], [], [], 20)
            line = p.stdout.readline() if rl else ''
            port = int(line.split(' port ')[1].split()[0]) if ' port ' in \
                line else None
            tap.ok(port is not None, 'program prints its port', line)
            if port:
                class S:
                    host = '127.0.0.1'
                S.port = port
                r = udp(S, 'prog.example', 'A')
                tap.eq(rdatas(r, 'A') if r else None, ['192.0.2.2'],
                       'program serves the chosen scenario (UDP)')
                r = tcp(S, 'prog.example', 'TXT')
                tap.eq(rdatas(r, 'TXT') if r else None,
                       [[b'v=spf1 a:\xef\xbb\xbfx -all']],
                       'program serves TCP; YAML \\x escapes as raw bytes')
        finally:
            p.terminate()
            try:
                rc = p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                rc = p.wait()
        tap.eq(rc, 0, 'program exits 0 on SIGTERM')
        out = subprocess.run([sys.executable, os.path.join(HERE, 'testdns.py'),
                              '--zone', path, '--scenario', '9'],
                             capture_output=True, text=True, timeout=30)
        tap.ok(out.returncode == 2 and 'out of range' in out.stderr,
               'program rejects a bad scenario index')
    finally:
        os.unlink(path)


def test_ports():
    a = testdns.TestDNS()
    b = testdns.TestDNS()
    try:
        tap.ok(a.port != b.port and a.port > 0, 'two servers, two ports')
        try:
            testdns.TestDNS(port=a.port)
            clash = False
        except OSError:
            clash = True
        tap.ok(clash, 'an explicit port in use raises OSError')
    finally:
        a.close()
        b.close()
        a.close()
    tap.ok(True, 'close() twice is harmless')


def main():
    srv = testdns.TestDNS(zone=ZONE)
    try:
        test_records(srv)
        test_negative(srv)
        test_cname(srv)
        test_timeout(srv)
        test_tcp_and_size(srv)
        test_refuse_and_junk(srv)
        test_zone_swap(srv)
    finally:
        srv.close()
    test_ipv6()
    test_ports()
    test_program()
    tap.done()
    return 0


if __name__ == '__main__':
    sys.exit(main())
