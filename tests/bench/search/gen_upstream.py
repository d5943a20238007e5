#!/usr/bin/env python3
"""Generator of tests/bench/search/run.sh: N records in the upstream key layout of pdns-ingestion.py
(spec pdns.md 1.5: r:/v: sets, s:/l:/o: strings), as RESP commands on stdout for `redis-cli --pipe`.
Record i: name h<i % 1000>.d<i // 1000>.test (so each domain d<j>.test has 1,000 names), type A,
address 10.<i >> 16 & 255>.<i >> 8 & 255>.<i & 255> (256 records per /24), first seen
1700000000 + i, last seen first + (i * 7919) % 1000000, count 1 + i % 5.
Usage: gen_upstream.py <N>"""
import sys

n = int(sys.argv[1])
out = sys.stdout.buffer


def resp(*args):
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a if isinstance(a, bytes) else str(a).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(parts)


buf = []
for i in range(n):
    q = "h%d.d%d.test" % (i % 1000, i // 1000)
    v = "10.%d.%d.%d" % (i >> 16 & 255, i >> 8 & 255, i & 255)
    k = "%s:%s:1" % (q, v)
    first = 1700000000 + i
    buf.append(resp("SADD", "r:%s:1" % q, v))
    buf.append(resp("SADD", "v:%s:1" % v, q))
    buf.append(resp("MSET", "s:" + k, first, "l:" + k, first + (i * 7919) % 1000000, "o:" + k, 1 + i % 5))
    if len(buf) >= 30000:
        out.write(b"".join(buf))
        buf = []
buf.append(resp("SET", "stats:processed", n))
out.write(b"".join(buf))
