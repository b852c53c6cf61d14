#!/usr/bin/python3
"""
testdns.py - a small programmable authoritative DNS server for tests.

What it is
    An in-process (or stand-alone) DNS server that answers from zone data
    given in the format of the SPF conformance suites (pyspf's YAML test
    files, `zonedata:` sections).  It binds UDP and TCP on the same port of
    a loopback address and serves from a background thread, so a test can
    point a resolver at 127.0.0.1:PORT and swap the zone between scenarios.
    Pure Python 3 standard library; PyYAML is imported only by the
    stand-alone program.

Public
    TestDNS(host='127.0.0.1', port=0, zone=None, log=None)
        .port                   the UDP and TCP port (same number)
        .host                   the bound address
        .set_zone(zonedata)     compile and swap zone data atomically
        .queries()              [(transport, name, type, outcome), ...]
        .clear_queries()
        .close()                stop the threads and close the sockets
    compile_zone(zonedata)      the zone compiler (raises ValueError)
    main()                      testdns.py --port N --zone FILE.yml
                                [--scenario INDEX] [--host ADDR] [-v]

Zone data (a mapping name -> list of entries, as in the suites)
    - TXT: "string"            one record, one character-string (split into
                                255-byte pieces if longer)
    - TXT: ["a", "b"]          one record with several character-strings
    - TXT: []                  one record with zero strings (RDLENGTH 0)
    - SPF: ...                 the same, type 99; also served as TXT unless
                                the name has a TXT entry of its own (this
                                includes `TXT: NONE`)
    - A: 1.2.3.4   - AAAA: ::1   - PTR: host   - CNAME: target
    - MX: [10, host]  (or "10 host")
    - TYPE: NONE               no record (for TXT: suppresses SPF->TXT)
    - TYPE: TIMEOUT            queries of that type are dropped (for SPF,
                                the generated TXT copy too)
    - TIMEOUT                  queries of any type for which no record was
                                listed *before* this entry are dropped; a
                                type with records listed before it is
                                answered from those records only.  This is
                                pyspf's test driver semantics (generated TXT
                                records count as listed last), which the
                                suites rely on (rfc7208 spftimeout).
    - NONE                     nothing: the name exists with no records
    Strings are served as raw bytes: each is encoded as Latin-1 when every
    code point is below 256 (so a YAML "\\xEF\\xBB\\xBF" gives the bytes EF BB
    BF, as the suites intend), otherwise as UTF-8.  Names compare ASCII
    case-insensitively; answers echo the case of the question.

Answers
    AA set, RD copied, RA clear, TTL 300.  Unknown name: NXDOMAIN; known
    name without the type: NOERROR with no answer; both carry an SOA (TTL
    and minimum 300) in the authority section.  CNAMEs are followed inside
    the zone data (at most 16 steps; a loop is given once, then stops).
    EDNS(0): an OPT in the query is answered with an OPT (payload 1232); a
    version above 0 gets BADVERS.  A UDP answer larger than 512 bytes (no
    OPT) or than the query's EDNS payload size is replaced by a truncated
    one (TC set, question only) so the client retries over TCP.  Opcodes
    other than QUERY get REFUSED, QDCOUNT != 1 or unparsable queries
    FORMERR, classes other than IN/ANY and zone transfers REFUSED.
    Messages with QR set, or shorter than a header, are dropped.

Trust
    Queries are untrusted bytes: every parse is bounds-checked, compression
    pointers are limited, TCP reads are bounded (2-byte length, idle
    timeout, connection count).  Zone data is trusted test input.

Errors
    Zone data that cannot be served raises ValueError from set_zone() (the
    previous zone stays in place).  Junk queries never raise out of the
    server: they are answered FORMERR or dropped, and an unexpected internal
    exception is printed to stderr and the query dropped; the server keeps
    running.  Network traffic stays on the bound (loopback) address.
"""

import argparse
import collections
import errno
import ipaddress
import selectors
import signal
import socket
import struct
import sys
import threading

TTL = 300
NEG_TTL = 300
MAX_CNAME_CHAIN = 16
MAX_POINTER_JUMPS = 32
UDP_PLAIN_MAX = 512
EDNS_OUR_PAYLOAD = 1232
TCP_MAX_MESSAGE = 65535
TCP_IDLE_TIMEOUT = 10.0
TCP_MAX_CONNECTIONS = 64
QUERY_LOG_MAX = 10000
BIND_TRIES = 100

CLASS_IN = 1
CLASS_ANY = 255

TYPE_CODES = {
    'A': 1, 'NS': 2, 'CNAME': 5, 'SOA': 6, 'PTR': 12, 'MX': 15, 'TXT': 16,
    'AAAA': 28, 'SPF': 99,
}
TYPE_NAMES = {v: k for k, v in TYPE_CODES.items()}
T_A, T_CNAME, T_SOA, T_PTR, T_MX, T_TXT, T_AAAA, T_SPF = (
    1, 5, 6, 12, 15, 16, 28, 99)
T_OPT = 41
T_IXFR, T_AXFR, T_MAILB, T_MAILA, T_ANY = 251, 252, 253, 254, 255

RCODE_NOERROR = 0
RCODE_FORMERR = 1
RCODE_NXDOMAIN = 3
RCODE_REFUSED = 5
RCODE_BADVERS = 16

SERVABLE = ('A', 'AAAA', 'CNAME', 'MX', 'PTR', 'TXT', 'SPF')

SOA_MNAME = (b'ns', b'testdns', b'invalid')
SOA_RNAME = (b'hostmaster', b'testdns', b'invalid')

# Markers in a compiled entry list.
E_TIMEOUT = 'timeout'            # ('timeout',)
E_TYPE_TIMEOUT = 'type-timeout'  # ('type-timeout', code)
E_RR = 'rr'                      # ('rr', code, rdata)


class Drop(Exception):
    """The query gets no answer at all."""


# to_bytes - a zone string as the raw bytes the suites mean
def to_bytes(v):
    if isinstance(v, (bytes, bytearray)):
        return bytes(v)
    if isinstance(v, bool) or v is None:
        raise ValueError('not a string: %r' % (v,))
    if not isinstance(v, str):
        v = str(v)
    try:
        return v.encode('latin-1')
    except UnicodeEncodeError:
        return v.encode('utf-8')


# name_labels - "a.b.c." -> (b'a', b'b', b'c'); strict=False keeps bad names
def name_labels(name, strict=True):
    b = to_bytes(name)
    if b.endswith(b'.'):
        b = b[:-1]
    if b == b'':
        return ()
    labels = tuple(b.split(b'.'))
    if strict:
        if any(len(l) == 0 or len(l) > 63 for l in labels):
            raise ValueError('bad label in name %r' % (name,))
        if sum(len(l) + 1 for l in labels) + 1 > 255:
            raise ValueError('name too long: %r' % (name,))
    return labels


# name_key - the case-insensitive lookup key of a label tuple
def name_key(labels):
    return tuple(l.lower() for l in labels)


# labels_text - a label tuple for logs, non-printables as \xNN
def labels_text(labels):
    out = []
    for l in labels:
        out.append(''.join(chr(c) if 0x21 <= c < 0x7f and c != 0x5c
                           else '\\x%02x' % c for c in l))
    return '.'.join(out) + '.'


# txt_strings - one TXT/SPF value as a list of <=255-byte strings
def txt_strings(value):
    if isinstance(value, (list, tuple)):
        parts = [to_bytes(x) for x in value]
    else:
        parts = [to_bytes(value)]
    out = []
    for p in parts:
        if len(p) <= 255:
            out.append(p)
        else:
            out.extend(p[i:i + 255] for i in range(0, len(p), 255))
    return out


# compile_rdata - one zone value of a servable type as internal rdata
def compile_rdata(typ, value):
    if typ in ('TXT', 'SPF'):
        return txt_strings(value)
    if typ == 'A':
        return ipaddress.IPv4Address(str(value).strip()).packed
    if typ == 'AAAA':
        return ipaddress.IPv6Address(str(value).strip()).packed
    if typ in ('PTR', 'CNAME'):
        return name_labels(value)
    if typ == 'MX':
        if isinstance(value, (list, tuple)) and len(value) == 2:
            pref, host = value
        elif isinstance(value, str) and len(value.split()) == 2:
            pref, host = value.split()
        else:
            raise ValueError('MX wants [preference, host]: %r' % (value,))
        pref = int(pref)
        if not 0 <= pref <= 65535:
            raise ValueError('MX preference out of range: %r' % (value,))
        return (pref, name_labels(host))
    raise ValueError('unsupported record type %r' % (typ,))


# compile_entries - one name's entry list, following pyspf's getrdata()
def compile_entries(name, entries):
    if not isinstance(entries, (list, tuple)):
        entries = [entries]
    out = []
    generated = []      # TXT records generated from SPF ones
    has_txt = False
    for m in entries:
        if isinstance(m, str):
            word = m.strip().upper()
            if word == 'TIMEOUT':
                out.append((E_TIMEOUT,))
            elif word == 'NONE':
                pass
            else:
                raise ValueError('%s: unknown entry %r' % (name, m))
            continue
        if not isinstance(m, dict) or not m:
            raise ValueError('%s: bad entry %r' % (name, m))
        for t, v in m.items():
            typ = str(t).upper()
            if typ not in SERVABLE:
                raise ValueError('%s: unsupported type %r' % (name, t))
            if typ == 'TXT':
                has_txt = True
            if isinstance(v, str) and v == 'NONE':
                continue
            if isinstance(v, str) and v == 'TIMEOUT':
                out.append((E_TYPE_TIMEOUT, TYPE_CODES[typ]))
                if typ == 'SPF':
                    generated.append((E_TYPE_TIMEOUT, T_TXT))
                continue
            try:
                rdata = compile_rdata(typ, v)
            except (ValueError, TypeError) as e:
                raise ValueError('%s: %s %r: %s' % (name, typ, v, e))
            out.append((E_RR, TYPE_CODES[typ], rdata))
            if typ == 'SPF':
                generated.append((E_RR, T_TXT, rdata))
    if not has_txt:
        out.extend(generated)
    return out


# compile_zone - zone data (mapping, or list of pairs / one-key mappings)
def compile_zone(zonedata):
    if zonedata is None:
        return {}
    if isinstance(zonedata, dict):
        items = list(zonedata.items())
    elif isinstance(zonedata, (list, tuple)):
        items = []
        for x in zonedata:
            if isinstance(x, dict):
                items.extend(x.items())
            elif isinstance(x, (list, tuple)) and len(x) == 2:
                items.append((x[0], x[1]))
            else:
                raise ValueError('bad zone item %r' % (x,))
    else:
        raise ValueError('zone data must be a mapping or a list')
    merged = collections.OrderedDict()
    for name, entries in items:
        if not isinstance(entries, (list, tuple)):
            entries = [entries]
        key = name_key(name_labels(name, strict=False))
        merged.setdefault(key, (name, []))[1].extend(entries)
    zone = {}
    for key, (name, entries) in merged.items():
        zone[key] = compile_entries(name, entries)
    return zone


class FormErr(Exception):
    """The query cannot be parsed."""


class Query:
    """A parsed query: header fields, question, EDNS."""
    __slots__ = ('id', 'flags', 'opcode', 'qdcount', 'qname', 'qtype',
                 'qclass', 'edns', 'question_ok')

    def __init__(self):
        self.question_ok = False
        self.qname = None
        self.qtype = None
        self.qclass = None
        self.edns = None        # (payload, version) when an OPT was sent


# read_name - a wire name at off -> (labels, offset after it)
def read_name(data, off):
    labels = []
    total = 1
    jumps = 0
    end = None
    while True:
        if off >= len(data):
            raise FormErr('name runs past the message')
        n = data[off]
        if n & 0xC0 == 0xC0:
            if off + 1 >= len(data):
                raise FormErr('truncated pointer')
            jumps += 1
            if jumps > MAX_POINTER_JUMPS:
                raise FormErr('pointer loop')
            if end is None:
                end = off + 2
            off = ((n & 0x3F) << 8) | data[off + 1]
            continue
        if n & 0xC0:
            raise FormErr('bad label type')
        off += 1
        if n == 0:
            break
        if off + n > len(data):
            raise FormErr('label runs past the message')
        total += n + 1
        if total > 255:
            raise FormErr('name too long')
        labels.append(bytes(data[off:off + n]))
        off += n
    return tuple(labels), (end if end is not None else off)


# parse_query - header, question and OPT of a query; raises Drop, FormErr
def parse_query(data):
    if len(data) < 12:
        raise Drop()
    q = Query()
    (q.id, q.flags, q.qdcount, an, ns, ar) = struct.unpack('!6H', data[:12])
    if q.flags & 0x8000:
        raise Drop()                    # a response: never answer it
    q.opcode = (q.flags >> 11) & 0xF
    off = 12
    if q.qdcount != 1:
        return q, FormErr('QDCOUNT %d' % q.qdcount)
    try:
        q.qname, off = read_name(data, off)
        if off + 4 > len(data):
            raise FormErr('truncated question')
        q.qtype, q.qclass = struct.unpack('!HH', data[off:off + 4])
        off += 4
    except FormErr as e:
        return q, e
    q.question_ok = True
    try:
        for i in range(an + ns + ar):
            owner, off = read_name(data, off)
            if off + 10 > len(data):
                raise FormErr('truncated RR')
            t, c, ttl, rdlen = struct.unpack('!HHIH', data[off:off + 10])
            off += 10
            if off + rdlen > len(data):
                raise FormErr('truncated rdata')
            off += rdlen
            if t == T_OPT:
                if i < an + ns or owner != () or q.edns is not None:
                    raise FormErr('misplaced or duplicate OPT')
                q.edns = (max(c, UDP_PLAIN_MAX), (ttl >> 16) & 0xFF)
    except FormErr as e:
        return q, e
    return q, None


class Writer:
    """A DNS message under construction, with name compression."""

    def __init__(self):
        self.buf = bytearray()
        self.names = {}

    def name(self, labels):
        for i in range(len(labels)):
            suffix = labels[i:]
            ptr = self.names.get(suffix)
            if ptr is not None:
                self.buf += struct.pack('!H', 0xC000 | ptr)
                return
            if len(self.buf) < 0x3FFF:
                self.names[suffix] = len(self.buf)
            self.buf.append(len(labels[i]))
            self.buf += labels[i]
        self.buf.append(0)

    def rr(self, owner, rtype, rdata, ttl=TTL):
        self.name(owner)
        self.buf += struct.pack('!HHI', rtype, CLASS_IN, ttl)
        at = len(self.buf)
        self.buf += b'\0\0'
        if rtype in (T_TXT, T_SPF):
            for s in rdata:
                self.buf.append(len(s))
                self.buf += s
        elif rtype in (T_A, T_AAAA):
            self.buf += rdata
        elif rtype in (T_CNAME, T_PTR):
            self.name(rdata)
        elif rtype == T_MX:
            self.buf += struct.pack('!H', rdata[0])
            self.name(rdata[1])
        elif rtype == T_SOA:
            self.name(rdata[0])
            self.name(rdata[1])
            self.buf += struct.pack('!5I', *rdata[2:])
        else:
            raise AssertionError('no writer for type %d' % rtype)
        struct.pack_into('!H', self.buf, at, len(self.buf) - at - 2)

    def opt(self, ext_rcode=0):
        self.buf += b'\0' + struct.pack('!HHIH', T_OPT, EDNS_OUR_PAYLOAD,
                                        (ext_rcode >> 4) << 24, 0)


# soa_owner - a plausible zone apex for a negative answer's SOA
def soa_owner(labels):
    return labels[-2:] if len(labels) >= 2 else labels


# lookup_node - records of one type at one name; ('drop',) or (recs, cname)
def lookup_node(entries, qtype):
    recs = []
    cname = None
    seen = False
    for e in entries:
        if e[0] == E_TIMEOUT:
            if not seen:
                return None
            break
        if e[0] == E_TYPE_TIMEOUT:
            if e[1] == qtype:
                return None
            continue
        code, rdata = e[1], e[2]
        if code == qtype or (qtype == T_ANY and code != T_CNAME):
            recs.append((code, rdata))
            seen = True
        elif code == T_CNAME and cname is None:
            cname = rdata
    return recs, cname


# resolve - (rcode, answers) for a question, or raise Drop
def resolve(zone, qname, qtype):
    answers = []
    owner = qname
    visited = set()
    for _ in range(MAX_CNAME_CHAIN + 1):
        key = name_key(owner)
        entries = zone.get(key)
        if entries is None:
            return RCODE_NXDOMAIN, answers
        found = lookup_node(entries, qtype)
        if found is None:
            raise Drop()
        recs, cname = found
        if recs:
            answers.extend((owner, code, rdata) for code, rdata in recs)
            return RCODE_NOERROR, answers
        if cname is None or qtype == T_CNAME:
            if cname is not None:
                answers.append((owner, T_CNAME, cname))
            return RCODE_NOERROR, answers
        answers.append((owner, T_CNAME, cname))
        visited.add(key)
        if name_key(cname) in visited:
            return RCODE_NOERROR, answers           # a loop: stop here
        owner = cname
    return RCODE_NOERROR, answers


# build_response - the wire answer to a parsed query, within limit bytes
def build_response(q, rcode, answers=(), authority=(), limit=TCP_MAX_MESSAGE):
    full = _render(q, rcode, answers, authority, tc=False)
    if len(full) <= limit:
        return full
    return _render(q, rcode, (), (), tc=True)


def _render(q, rcode, answers, authority, tc):
    w = Writer()
    flags = 0x8000 | (q.opcode << 11) | 0x0400 | (q.flags & 0x0100)
    if tc:
        flags |= 0x0200
    flags |= rcode & 0xF
    qd = 1 if q.question_ok else 0
    ar = 1 if q.edns is not None else 0
    w.buf += struct.pack('!6H', q.id, flags, qd, len(answers),
                         len(authority), ar)
    if qd:
        w.name(q.qname)
        w.buf += struct.pack('!HH', q.qtype, q.qclass)
    for owner, code, rdata in answers:
        w.rr(owner, code, rdata)
    for owner, code, rdata in authority:
        w.rr(owner, code, rdata, ttl=NEG_TTL)
    if ar:
        w.opt(rcode)
    return bytes(w.buf)


class TestDNS:
    """The server: UDP + TCP on one loopback port, served by threads."""

    def __init__(self, host='127.0.0.1', port=0, zone=None, log=None):
        self.host = host
        self._zone = compile_zone(zone)
        self._log = log
        self._queries = collections.deque(maxlen=QUERY_LOG_MAX)
        self._qlock = threading.Lock()
        self._stop = threading.Event()
        self._conns = set()
        self._clock = threading.Lock()
        self._udp, self._tcp = self._bind(host, port)
        self.port = self._udp.getsockname()[1]
        self._thread = threading.Thread(target=self._serve,
                                        name='testdns', daemon=True)
        self._thread.start()

    # _bind - UDP and TCP sockets on the same port (retry when port=0)
    @staticmethod
    def _bind(host, port):
        fam = socket.AF_INET6 if ':' in host else socket.AF_INET
        tries = BIND_TRIES if port == 0 else 1
        last = None
        for _ in range(tries):
            udp = socket.socket(fam, socket.SOCK_DGRAM)
            tcp = None
            try:
                udp.bind((host, port))
                p = udp.getsockname()[1]
                tcp = socket.socket(fam, socket.SOCK_STREAM)
                tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                tcp.bind((host, p))
                tcp.listen(16)
                udp.setblocking(False)
                tcp.setblocking(False)
                return udp, tcp
            except OSError as e:
                last = e
                udp.close()
                if tcp is not None:
                    tcp.close()
                if e.errno != errno.EADDRINUSE:
                    raise
        raise last

    # set_zone - compile zone data, then swap it in (atomic for readers)
    def set_zone(self, zonedata):
        self._zone = compile_zone(zonedata)

    def queries(self):
        with self._qlock:
            return list(self._queries)

    def clear_queries(self):
        with self._qlock:
            self._queries.clear()

    # close - stop serving; safe to call twice
    def close(self):
        if self._stop.is_set():
            return
        self._stop.set()
        self._thread.join(5)
        with self._clock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._udp.close()
        self._tcp.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _note(self, transport, q, outcome):
        if q is not None and q.question_ok:
            name = labels_text(q.qname)
            typ = TYPE_NAMES.get(q.qtype, str(q.qtype))
        else:
            name, typ = '-', '-'
        rec = (transport, name, typ, outcome)
        with self._qlock:
            self._queries.append(rec)
        if self._log is not None:
            try:
                self._log.write('testdns: %s %s %s -> %s\n' % rec)
                self._log.flush()
            except (OSError, ValueError):
                pass

    # handle - one query message -> response bytes, or None to drop it
    def handle(self, data, transport):
        try:
            return self._handle(data, transport)
        except Drop:
            return None
        except Exception as e:          # our bug: report, keep serving
            sys.stderr.write('testdns: internal error: %r\n' % (e,))
            return None

    def _handle(self, data, transport):
        limit = TCP_MAX_MESSAGE
        try:
            q, err = parse_query(data)
        except Drop:
            self._note(transport, None, 'dropped junk')
            raise
        if transport == 'udp':
            limit = q.edns[0] if q.edns else UDP_PLAIN_MAX
        if q.opcode != 0:
            self._note(transport, q, 'REFUSED opcode %d' % q.opcode)
            return build_response(q, RCODE_REFUSED, limit=limit)
        if err is not None:
            self._note(transport, q, 'FORMERR %s' % err)
            return build_response(q, RCODE_FORMERR, limit=limit)
        if q.edns is not None and q.edns[1] != 0:
            self._note(transport, q, 'BADVERS')
            return build_response(q, RCODE_BADVERS, limit=limit)
        if q.qclass not in (CLASS_IN, CLASS_ANY) or q.qtype in (
                T_IXFR, T_AXFR, T_MAILB, T_MAILA):
            self._note(transport, q, 'REFUSED')
            return build_response(q, RCODE_REFUSED, limit=limit)
        if q.qtype == T_OPT:
            self._note(transport, q, 'FORMERR OPT question')
            return build_response(q, RCODE_FORMERR, limit=limit)
        zone = self._zone
        try:
            rcode, answers = resolve(zone, q.qname, q.qtype)
        except Drop:
            self._note(transport, q, 'TIMEOUT (dropped)')
            raise
        authority = []
        last = answers[-1][0] if answers else q.qname
        if rcode == RCODE_NXDOMAIN or not answers or (
                answers[-1][1] == T_CNAME and q.qtype != T_CNAME):
            authority.append((soa_owner(last), T_SOA,
                              (SOA_MNAME, SOA_RNAME, 1, 3600, 600, 86400,
                               NEG_TTL)))
        resp = build_response(q, rcode, answers, authority, limit)
        if resp[2] & 0x02:
            outcome = 'truncated (%d answers)' % len(answers)
        elif rcode == RCODE_NXDOMAIN:
            outcome = 'NXDOMAIN'
        else:
            outcome = '%d answers' % len(answers)
        self._note(transport, q, outcome)
        return resp

    # _serve - the select loop: UDP queries and TCP accepts
    def _serve(self):
        sel = selectors.DefaultSelector()
        sel.register(self._udp, selectors.EVENT_READ, 'udp')
        sel.register(self._tcp, selectors.EVENT_READ, 'tcp')
        try:
            while not self._stop.is_set():
                for key, _ in sel.select(0.2):
                    if key.data == 'udp':
                        self._udp_once()
                    else:
                        self._accept_once()
        finally:
            sel.close()

    def _udp_once(self):
        try:
            data, peer = self._udp.recvfrom(65535)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            return
        resp = self.handle(data, 'udp')
        if resp is not None:
            try:
                self._udp.sendto(resp, peer)
            except OSError:
                pass

    def _accept_once(self):
        try:
            conn, _ = self._tcp.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            return
        with self._clock:
            if len(self._conns) >= TCP_MAX_CONNECTIONS:
                conn.close()
                return
            self._conns.add(conn)
        t = threading.Thread(target=self._tcp_conn, args=(conn,),
                             name='testdns-tcp', daemon=True)
        t.start()

    # _recv_exact - n bytes from a TCP peer, or None at EOF/idle/stop
    def _recv_exact(self, conn, n):
        buf = bytearray()
        idle = 0.0
        while len(buf) < n:
            if self._stop.is_set():
                return None
            try:
                chunk = conn.recv(n - len(buf))
            except socket.timeout:
                idle += 0.5
                if idle >= TCP_IDLE_TIMEOUT:
                    return None
                continue
            except OSError:
                return None
            if not chunk:
                return None
            idle = 0.0
            buf += chunk
        return bytes(buf)

    def _tcp_conn(self, conn):
        try:
            conn.setblocking(True)
            conn.settimeout(0.5)
            while not self._stop.is_set():
                hdr = self._recv_exact(conn, 2)
                if hdr is None:
                    break
                (n,) = struct.unpack('!H', hdr)
                if n == 0:
                    break
                msg = self._recv_exact(conn, n)
                if msg is None:
                    break
                resp = self.handle(msg, 'tcp')
                if resp is not None:
                    conn.settimeout(TCP_IDLE_TIMEOUT)
                    conn.sendall(struct.pack('!H', len(resp)) + resp)
                    conn.settimeout(0.5)
        except OSError:
            pass
        finally:
            with self._clock:
                self._conns.discard(conn)
            conn.close()


# load_scenarios - the documents of a suite file (or a bare zone mapping)
def load_scenarios(path):
    import yaml
    with open(path, 'rb') as f:
        docs = [d for d in yaml.safe_load_all(f) if d is not None]
    out = []
    for d in docs:
        if isinstance(d, dict) and 'zonedata' in d:
            out.append((d.get('description', ''), d['zonedata']))
        else:
            out.append(('', d))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(
        description='Serve SPF-suite zone data on loopback (UDP and TCP).')
    ap.add_argument('--host', default='127.0.0.1')
    ap.add_argument('--port', type=int, default=0,
                    help='0 picks a free port (printed)')
    ap.add_argument('--zone', required=True,
                    help='a suite .yml (scenarios) or a bare zone mapping')
    ap.add_argument('--scenario', type=int, default=0,
                    help='index of the scenario (document) to serve')
    ap.add_argument('--list', action='store_true',
                    help='list the scenarios and exit')
    ap.add_argument('-v', '--verbose', action='store_true',
                    help='log each query on stderr')
    a = ap.parse_args(argv)
    try:
        scenarios = load_scenarios(a.zone)
    except (OSError, ValueError) as e:
        sys.stderr.write('testdns: %s: %s\n' % (a.zone, e))
        return 2
    except Exception as e:              # yaml.YAMLError and friends
        sys.stderr.write('testdns: %s: %s\n' % (a.zone, e))
        return 2
    if a.list:
        for i, (desc, _) in enumerate(scenarios):
            print('%d\t%s' % (i, desc))
        return 0
    if not 0 <= a.scenario < len(scenarios):
        sys.stderr.write('testdns: scenario %d out of range 0..%d\n'
                         % (a.scenario, len(scenarios) - 1))
        return 2
    desc, zonedata = scenarios[a.scenario]
    try:
        srv = TestDNS(a.host, a.port, zonedata,
                      log=sys.stderr if a.verbose else None)
    except (OSError, ValueError) as e:
        sys.stderr.write('testdns: %s\n' % (e,))
        return 2
    done = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: done.set())
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    print('testdns: listening on %s port %d (udp+tcp), scenario %d: %s'
          % (a.host, srv.port, a.scenario, desc), flush=True)
    while not done.wait(0.5):
        pass
    srv.close()
    return 0


if __name__ == '__main__':
    sys.exit(main())
