#!/usr/bin/env bash
# Sensor benchmarks (release build):
#  1. capture-and-format: d4-passivedns -r on a generated pcap of N DNS exchanges → frames/s;
#  2. client throughput: d4-client (stdin → TLS) to a local TLS D4 sink → MB/s, side by side with the
#     upstream C-client path reference (`d4 | socat OPENSSL`), played here by Python's ssl module
#     (OpenSSL) sending the same pre-built D4 stream with sendall.
# Usage: tests/bench/sensor/run.sh [N_EXCHANGES] [CLIENT_MB]   (defaults 500000 and 200)
# ROUNDS=n (default 5): client rounds; every round runs each variant once, and the table gives
# medians of wall time, MB/s, CPU microseconds per MB of the client and of the sink, and the rate
# ratio to python. CLIENT_BEFORE=/path/to/old/d4-client adds that binary to every round.
# PASSIVEDNS_REF=/path/to/passivedns (gamelinux passivedns 1.2.1, built by hand outside the
# repository) adds the reference: the same pcap through `passivedns -r`, its time, the ratio
# of the rates, and whether both wrote the same answer and NXDOMAIN lines.
set -euo pipefail
N=${1:-500000}
MB=${2:-200}
cd "$(dirname "$0")/../../.."
# shellcheck source=tests/bench/lib.sh
. tests/bench/lib.sh
cargo build --release -q -p d4-sensor --bins --examples
T=target/release
EX=$T/examples
tmp=$(mktemp -d)
SINK=
cleanup() { [ -n "$SINK" ] && kill "$SINK" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
now() { date +%s.%N; }
rate() { python3 -c "import sys; a,b,n=map(float,sys.argv[1:]); print(f'{n/(b-a):,.0f}')" "$@"; }
# host_since <mark>: the host's steal and busy share over one measurement, and the WARNING if any.
host_since() {
  echo "   host: $(host_window_report "$1")"
  host_steal_warning "$(host_window_steal "$1")" "during this measurement"
}

host_begin
echo "== capture and format (d4-passivedns -r) =="
"$EX/gen_dns_pcap" "$N" "$tmp/dns.pcap" >/dev/null
frames=$((2 * N))
mark=$(host_window)
t0=$(now)
"$T/d4-passivedns" -r "$tmp/dns.pcap" -l "$tmp/answers.log" -L "$tmp/nxd.log" 2>"$tmp/pdns.err"
t1=$(now)
printf '%d frames (%d DNS responses), %d lines in %.2fs: %s frames/s, %s responses/s\n' \
  "$frames" "$N" "$(wc -l <"$tmp/answers.log")" "$(python3 -c "print($t1-$t0)")" \
  "$(rate "$t0" "$t1" "$frames")" "$(rate "$t0" "$t1" "$N")"
host_since "$mark"
ours=$(python3 -c "print($t1-$t0)")
if [ -n "${PASSIVEDNS_REF:-}" ]; then
  mark=$(host_window)
  t0=$(now)
  "$PASSIVEDNS_REF" -r "$tmp/dns.pcap" -l "$tmp/ref-answers.log" -L "$tmp/ref-nxd.log" >"$tmp/ref.out" 2>&1
  t1=$(now)
  printf 'reference %s: %d lines in %.2fs: %s frames/s; d4-passivedns is %sx as fast\n' \
    "$PASSIVEDNS_REF" "$(wc -l <"$tmp/ref-answers.log")" "$(python3 -c "print($t1-$t0)")" \
    "$(rate "$t0" "$t1" "$frames")" "$(python3 -c "print(f'{($t1-$t0)/$ours:.2f}')")"
  host_since "$mark"
  for f in answers nxd; do
    if cmp -s "$tmp/$f.log" "$tmp/ref-$f.log"; then
      echo "   $f lines: identical ($(wc -l <"$tmp/$f.log") lines)"
    else
      echo "   $f lines: DIFFER: $(diff "$tmp/$f.log" "$tmp/ref-$f.log" | grep -c '^[<>]') lines differ (ours $(wc -l <"$tmp/$f.log"), reference $(wc -l <"$tmp/ref-$f.log"))"
    fi
  done
fi

echo "== client throughput (stdin → TLS sink) =="
cp gen_cert/gen_root.sh gen_cert/gen_cert.sh gen_cert/openssl.cnf gen_cert/server_ext.cnf "$tmp/"
(cd "$tmp" && bash gen_root.sh >/dev/null 2>&1 && bash gen_cert.sh >/dev/null 2>&1)
PORT=$(python3 -c "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])")
"$EX/tls_sink" "$tmp/server.crt" "$tmp/server.key" "$PORT" >"$tmp/sink.log" 2>&1 &
SINK=$!
sleep 0.3
python3 - "$tmp/lines.txt" "$MB" <<'PY'
import sys
path, mb = sys.argv[1], int(sys.argv[2])
line = "1700000000.123456||10.0.0.1||192.0.2.53||IN||host{:07d}.zone.example.||A||10.1.2.3||300||1\n"
with open(path, "w") as f:
    n = 0
    while f.tell() < mb * 1_000_000:
        f.write("".join(line.format(n + i) for i in range(10000)))
        n += 10000
PY
size=$(stat -c %s "$tmp/lines.txt")
mkdir "$tmp/conf"
printf 'private key to change\n' >"$tmp/conf/key"
echo ff7ba400-e76c-4053-982d-feec42bdef38 >"$tmp/conf/uuid"
echo 8 >"$tmp/conf/type"; echo 4096 >"$tmp/conf/snaplen"; echo 1 >"$tmp/conf/version"
echo stdin >"$tmp/conf/source"; echo "127.0.0.1:$PORT" >"$tmp/conf/destination"
cp -r "$tmp/conf" "$tmp/conf-stdout"; echo stdout >"$tmp/conf-stdout/destination"
"$T/d4-client" -c "$tmp/conf-stdout" <"$tmp/lines.txt" >"$tmp/stream.d4" 2>/dev/null
cat >"$tmp/ref.py" <<'PY'
import socket, ssl, sys
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1]))))
with open(sys.argv[2], "rb") as f:
    while chunk := f.read(1 << 20):
        s.sendall(chunk)
s = s.unwrap()
s.shutdown(socket.SHUT_WR)
while s.recv(65536):
    pass
PY
# measure.py SINK_PID STDIN CMD...: runs one client, prints "wall_s client_cpu_us sink_cpu_us":
# the client's user+system time from wait4, the sink's from its threads' schedstat (ns).
cat >"$tmp/measure.py" <<'PY'
import glob, os, subprocess, sys, time
def sink_ns(pid):
    t = 0
    for f in glob.glob(f"/proc/{pid}/task/*/schedstat"):
        try:
            t += int(open(f).read().split()[0])
        except (OSError, ValueError):
            pass
    return t
pid, stdin, cmd = sys.argv[1], sys.argv[2], sys.argv[3:]
s0 = sink_ns(pid)
with open(stdin, "rb") as i, open(os.devnull, "wb") as o:
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdin=i, stdout=o, stderr=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.monotonic() - t0
time.sleep(0.05)
if status != 0:
    sys.exit(f"{cmd[0]} failed: status {status}")
print(f"{wall:.4f} {(ru.ru_utime + ru.ru_stime) * 1e6:.0f} {(sink_ns(pid) - s0) / 1e3:.0f}")
PY
ROUNDS=${ROUNDS:-5}
# The variants, each measured once per round, in this order: label and command.
labels=("d4-client" "d4-client --accept-wait 0")
cmds=("$T/d4-client -c $tmp/conf" "$T/d4-client -c $tmp/conf --accept-wait 0")
if [ -n "${CLIENT_BEFORE:-}" ]; then
  labels+=("before: d4-client" "before: d4-client --accept-wait 0")
  cmds+=("$CLIENT_BEFORE -c $tmp/conf" "$CLIENT_BEFORE -c $tmp/conf --accept-wait 0")
fi
labels+=("python ssl sendall")
cmds+=("python3 $tmp/ref.py $PORT $tmp/stream.d4")
echo "$((size / 1000000)) MB of passivedns lines, $ROUNDS rounds; python sends the same lines," \
  "signed beforehand by d4-client (like d4 | socat OPENSSL)"
echo "d4-client waits at the end of its input until its first packet is --accept-wait (1s) old," \
  "watching for a rejection: a fixed delay, not a rate; with --accept-wait 0 the run is the transfer alone"
mark=$(host_window)
for r in $(seq "$ROUNDS"); do
  rmark=$(host_window)
  line="round $r:"
  for i in "${!cmds[@]}"; do
    stdin=$tmp/lines.txt
    case ${labels[$i]} in python*) stdin=/dev/null ;; esac
    # shellcheck disable=SC2086  # the command is a word list
    m=$(python3 "$tmp/measure.py" "$SINK" "$stdin" ${cmds[$i]})
    echo "$i $m" >>"$tmp/results"
    line+=" ${labels[$i]} $(echo "$m" | cut -d' ' -f1)s;"
  done
  echo "$line"
  echo "   host: $(host_window_report "$rmark")"
done
python3 - "$tmp/results" "$size" "${labels[@]}" <<'PY'
import statistics, sys
path, size, labels = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
rows = {}
for l in open(path):
    i, wall, cpu, sink = l.split()
    rows.setdefault(int(i), []).append((float(wall), float(cpu), float(sink)))
mb = size / 1e6
med = {i: [statistics.median(c) for c in zip(*v)] for i, v in rows.items()}
ref = med[len(labels) - 1][0]
print(f"{'medians':34} {'wall s':>7} {'MB/s':>7} {'client CPU us/MB':>17} {'sink CPU us/MB':>15} {'rate / python':>14}")
for i, (wall, cpu, sink) in sorted(med.items()):
    print(f"{labels[i]:34} {wall:7.3f} {mb / wall:7.1f} {cpu / mb:17.0f} {sink / mb:15.0f} {ref / wall:14.2f}")
PY
host_since "$mark"
sleep 0.3
echo "sink (last two connections): $(tail -n 2 "$tmp/sink.log" | tr '\n' ' ')"

# Optional: the same client run against a real d4-server (D4_SERVER_BIN=path/to/d4-server), with two
# throw-away redis-servers, in shared-secret mode.
if [ -n "${D4_SERVER_BIN:-}" ]; then
  echo "== client throughput to d4-server ($D4_SERVER_BIN) =="
  free_port() { python3 -c "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])"; }
  R1=$(free_port); R2=$(free_port); DP=$(free_port)
  redis-server --port "$R1" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes --pidfile "$tmp/r1.pid" --dir "$tmp" >/dev/null
  redis-server --port "$R2" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes --pidfile "$tmp/r2.pid" --dir "$tmp" >/dev/null
  {
    printf '[Save_Directories]\nuse_default_save_directory = yes\nsave_directory = None\n'
    printf '[D4_Server]\nserver_port = %s\nserver_mode = shared-secret\ndefault_hmac_key = private key to change\n' "$DP"
    printf 'analyzer_queues_max_size = 100000000\ntls_cert_file = %s/server.crt\ntls_key_file = %s/server.key\n' "$tmp" "$tmp"
    printf '[Redis_STREAM]\nhost = 127.0.0.1\nport = %s\ndb = 0\n' "$R1"
    for s in METADATA:0 SERV:1 ANALYZER:2 CACHE:3; do
      printf '[Redis_%s]\nhost = 127.0.0.1\nport = %s\ndb = %s\n' "${s%%:*}" "$R2" "${s##*:}"
    done
  } >"$tmp/server.conf"
  (cd "$tmp" && "$D4_SERVER_BIN" -c "$tmp/server.conf" >"$tmp/d4-server.log" 2>&1 & echo $! >"$tmp/d4s.pid")
  sleep 1.5
  echo "127.0.0.1:$DP" >"$tmp/conf/destination"
  mark=$(host_window)
  t0=$(now)
  "$T/d4-client" -c "$tmp/conf" <"$tmp/lines.txt" 2>"$tmp/client-d4s.err"
  t1=$(now)
  printf 'd4-client → d4-server: %d MB in %.2fs = %s MB/s (stream entries: %s)\n' "$((size / 1000000))" \
    "$(python3 -c "print($t1-$t0)")" "$(python3 -c "print(f'{$size/1e6/($t1-$t0):.1f}')")" \
    "$(redis-cli -p "$R1" --raw keys 'stream:8:*' | head -1 | xargs -r redis-cli -p "$R1" xlen)"
  host_since "$mark"
  D4S=$(cat "$tmp/d4s.pid")
  kill "$D4S" 2>/dev/null || true
  for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$D4S" 2>/dev/null || break; sleep 0.5; done
  kill -9 "$D4S" 2>/dev/null || true
  redis-cli -p "$R1" shutdown nosave >/dev/null 2>&1 || true
  redis-cli -p "$R2" shutdown nosave >/dev/null 2>&1 || true
fi
host_end
