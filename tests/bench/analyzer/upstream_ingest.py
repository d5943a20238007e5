#!/usr/bin/env python3
"""Reference for the ingestion benchmark: the upstream pdns-ingestion.py algorithm (spec pdns.md
§1.2-§1.5: one RPOP per line, ~12 sequential round trips per line) re-implemented with redis-py.
Usage: upstream_ingest.py <redis-port> <queue-key> <max-lines>; writes into db 1 of the store."""
import sys
import time

import redis

port, key, limit = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
queue = redis.Redis(host="127.0.0.1", port=port, db=2)
store = redis.Redis(host="127.0.0.1", port=port, db=1)
types = {"A": "1", "NS": "2", "CNAME": "5", "MX": "15", "TXT": "16", "AAAA": "28", "SRV": "33"}
expiration = {"16": "24000", "99": "26000"}
done = 0
start = time.time()
while done < limit:
    raw = queue.rpop(key)
    if raw is None:
        break
    f = raw.decode().strip().split("||")
    ts, cls, q, t, v = f[0].split(".")[0], f[3], f[4].lower().strip("."), types[f[5]], f[6].lower().strip(".")
    e = expiration.get(t)
    if t == "16":
        v = v.replace('"', "", 1)
    store.sadd("r:%s:%s" % (q, t), v)
    if e:
        store.expire("r:%s:%s" % (q, t), e)
    store.sadd("v:%s:%s" % (v, t), q)
    if e:
        store.expire("v:%s:%s" % (v, t), e)
    k = "%s:%s:%s" % (q, v, t)
    if not store.exists("s:" + k):
        store.set("s:" + k, ts)
    if e:
        store.expire("s:" + k, e)
    last = store.get("l:" + k)
    if not last or int(last) < int(ts):
        store.set("l:" + k, ts)
    if e:
        store.expire("r:%s:%s" % (q, t), e)
    store.incrby("o:" + k, 1)
    if e:
        store.expire("o:" + k, e)
    if len(f) > 7:
        store.hincrby("dist:ttl", f[7], 1)
    store.hincrby("dist:class", cls, 1)
    store.hincrby("dist:type", t, 1)
    store.incrby("stats:processed", 1)
    done += 1
elapsed = time.time() - start
print("upstream-python lines=%d seconds=%.2f lines_per_sec=%.0f" % (done, elapsed, done / max(elapsed, 1e-6)))
