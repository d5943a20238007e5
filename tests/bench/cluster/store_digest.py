"""Digest of a pDNS store for tests/bench/cluster/chain.sh: every s:/l:/o: key with its
value, over the given servers (every master of a cluster, or one server), as one sha256
and the number of keys. Two stores with the same records, first/last seen and counts
give the same line. RESP by hand over sockets: no redis-py needed.

Usage: python3 store_digest.py PORT [PORT...]
"""
import hashlib
import socket
import sys


class Conn:
    """One RESP connection to 127.0.0.1:port."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", int(port)))
        self.file = self.sock.makefile("rb")

    def send(self, *commands):
        """Sends the commands as one pipeline and returns their replies."""
        wire = b"".join(
            b"*%d\r\n" % len(c) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in c) for c in commands
        )
        self.sock.sendall(wire)
        return [self.read() for _ in commands]

    def read(self):
        """One reply."""
        line = self.file.readline().rstrip(b"\r\n")
        kind, rest = line[:1], line[1:]
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self.file.read(n + 2)[:-2]
        if kind == b"*":
            return [self.read() for _ in range(int(rest))]
        if kind == b"-":
            raise RuntimeError(rest.decode())
        return rest


def records(port):
    """The s:/l:/o: keys of the server at port with their values."""
    conn, out, cursor = Conn(port), {}, b"0"
    while True:
        cursor, keys = conn.send((b"SCAN", cursor, b"COUNT", b"2000"))[0]
        keys = [k for k in keys if k[:2] in (b"s:", b"l:", b"o:")]
        for k, v in zip(keys, conn.send(*[(b"GET", k) for k in keys])):
            out[k] = v
        if cursor == b"0":
            return out


def main():
    all_records = {}
    for port in sys.argv[1:]:
        all_records.update(records(port))
    h = hashlib.sha256()
    for k in sorted(all_records):
        h.update(k + b"=" + (all_records[k] or b"") + b"\n")
    print("%d s:/l:/o: keys, sha256 %s" % (len(all_records), h.hexdigest()[:16]))


main()
