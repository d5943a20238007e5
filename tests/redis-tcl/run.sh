#!/usr/bin/env bash
# Runs Redis's own Tcl test suite (from Debian's `redis` source package) against d4-kv.
#
#   tests/redis-tcl/run.sh                 # all units listed in UNITS below
#   tests/redis-tcl/run.sh unit/type/list  # some units
#   D4KV_BIN=target/release/d4-kv tests/redis-tcl/run.sh
#
# Fetches the source once into tests/redis-tcl/.cache (adds a deb-src entry for the
# configured Debian mirror if needed; needs root for that step), starts d4-kv on a free
# port, runs `runtest --host/--port` per unit with the exclusions in skiplist.txt (reasons
# in README.md), prints a summary, and exits non-zero if any unit fails.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cache="$here/.cache"
src="$cache/src"

UNITS=(unit/type/incr unit/type/string unit/type/list unit/type/hash unit/type/set
       unit/type/zset unit/type/stream unit/keyspace unit/expire)
[ $# -gt 0 ] && UNITS=("$@")

fetch() {
    [ -x "$src/runtest" ] && return
    mkdir -p "$cache"
    if ! apt-get source --print-uris redis >/dev/null 2>&1; then
        # Source entries for the mirrors apt is already configured with (the same
        # repositories, as deb-src), so nothing outside Debian's package registry is used.
        local dir=/etc/apt/sources.list.d list
        list="$dir/d4-redis-src.sources"
        echo "adding deb-src entries for the configured Debian mirrors to $list" >&2
        {
            for f in "$dir"/*.sources; do
                [ "$f" = "$list" ] && continue
                [ -f "$f" ] && sed -n 's/^Types:.*\bdeb\b.*$/Types: deb-src/; p' "$f" && echo
            done
        } >"$list.tmp"
        if [ -f /etc/apt/sources.list ]; then
            sed -n 's/^deb \(.*\)$/deb-src \1/p' /etc/apt/sources.list >"$dir/d4-redis-src.list"
        fi
        mv "$list.tmp" "$list"
        apt-get update -o APT::Get::List-Cleanup=0 >/dev/null
    fi
    (cd "$cache" && apt-get source --download-only redis >/dev/null 2>&1)
    local dsc
    dsc="$(ls "$cache"/redis_*.dsc | head -1)"
    rm -rf "$src"
    if command -v dpkg-source >/dev/null; then
        dpkg-source -x "$dsc" "$src" >/dev/null
    else
        mkdir -p "$src" && tar -xzf "$cache"/redis_*.orig.tar.gz -C "$src" --strip-components=1
    fi
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

fetch
bin="${D4KV_BIN:-$root/target/debug/d4-kv}"
if [ ! -x "$bin" ]; then
    (cd "$root" && cargo build -p d4-kv --bin d4-kv)
fi
port="$(free_port)"
data="$(mktemp -d)"
# DEBUG is refused by default (Redis 7's enable-debug-command no); the suite uses it
# (DEBUG RELOAD, SET-ACTIVE-EXPIRE, ...), as Redis's own test config enables it.
"$bin" --port "$port" --bind 127.0.0.1 --dir "$data" --save "" --enable-debug-command yes \
    >"$data/d4-kv.log" 2>&1 &
kv_pid=$!
cleanup() {
    kill "$kv_pid" 2>/dev/null || true
    for _ in $(seq 20); do kill -0 "$kv_pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$kv_pid" 2>/dev/null || true
    rm -rf "$data"
}
trap cleanup EXIT
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.05
done

# Tests tagged needs:debug (DEBUG internals), needs:repl (replication), large-memory are
# excluded by tag; encodings and DEBUG DIGEST are ignored (d4-kv has one encoding per type).
skip_args=()
while IFS= read -r line; do
    case "$line" in ''|'#'*) continue ;; esac
    skip_args+=(--skiptest "$line")
done <"$here/skiplist.txt"

passed=() failed=()
for unit in "${UNITS[@]}"; do
    log="$data/$(echo "$unit" | tr / _).log"
    if (cd "$src" && ./runtest --host 127.0.0.1 --port "$port" --single "$unit" --clients 1 \
            --tags "-needs:debug -needs:repl -large-memory" --ignore-encoding --ignore-digest \
            --timeout 120 "${skip_args[@]}") >"$log" 2>&1 \
        && grep -q "All tests passed" "$log"; then
        passed+=("$unit")
        echo "PASS $unit ($(grep -cE '\[.{0,12}ok.{0,5}\]:' "$log") ok, $(grep -cE '\[.{0,12}skip.{0,5}\]:' "$log") skipped)"
    else
        failed+=("$unit")
        echo "FAIL $unit"
        grep -E 'err.{0,5}\]:|exception|Expected|ERR |test \{|test "' "$log" | head -20 | cut -c1-240 | sed 's/^/    /'
    fi
done
echo "passed: ${passed[*]:-none}"
echo "failed: ${failed[*]:-none}"
[ ${#failed[@]} -eq 0 ]
