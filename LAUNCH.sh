#!/usr/bin/env bash
# d4-rs launcher, compatible with the upstream d4-core LAUNCH.sh:
#   ./LAUNCH.sh -l | --launchAuto         build if needed, then start stores, server, workers, web, pDNS analyzer
#   ./LAUNCH.sh -k | --killAll            stop everything gracefully (stores last); safe to run twice
#   ./LAUNCH.sh -lrv | --launchRedisVerify start the stores and wait until they answer
#   ./LAUNCH.sh -q | --quickstart         with -l: create the type-8 queue of the built-in analyzer
#                                         and write its uuid into conf/analyzer.conf
#   ./LAUNCH.sh -rp | --restartPdns       restart the passive DNS analyzer (after editing analyzer.conf)
#   ./LAUNCH.sh -h | --help               this help
#   ./LAUNCH.sh                           interactive menu
#
# Processes run in the upstream screen sessions (Redis_D4, Server_D4, Workers_D4, Flask_D4, pdns)
# when `screen` is installed, otherwise in the background; either way with pid files in run/ and
# logs in logs/. Environment: D4_HOME (where conf/, data/, logs/, run/ live; default: this
# directory), D4_BIN (directory of the binaries; default: target/release, built with cargo).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
D4_HOME=${D4_HOME:-$ROOT}
BUILD=1
if [ -n "${D4_BIN:-}" ]; then BUILD=0; fi
BIN=${D4_BIN:-$ROOT/target/release}
export D4_HOME

cd "$D4_HOME" || { echo "Error: cannot enter D4_HOME=$D4_HOME" >&2; exit 1; }

GREEN=$'\e[32m'; RED=$'\e[31m'; YELLOW=$'\e[33m'; DEFAULT=$'\e[0m'
if [ ! -t 1 ]; then GREEN=""; RED=""; YELLOW=""; DEFAULT=""; fi

info() { echo "${GREEN}* $*${DEFAULT}"; }
warn() { echo "${YELLOW}! $*${DEFAULT}"; }
fail() { echo "${RED}Error: $*${DEFAULT}" >&2; exit 1; }

banner() {
    cat <<EOF
d4-rs launcher (drop-in for the D4 core LAUNCH.sh)

Usage: ./LAUNCH.sh [option]
  -l,   --launchAuto          Launch everything (stores, D4 server, workers, web, passive DNS analyzer)
  -k,   --killAll             Stop everything gracefully, stores last
  -lrv, --launchRedisVerify   Launch the stores and wait until they answer
  -q,   --quickstart          With -l: create the analyzer's type-8 queue, write it to conf/analyzer.conf
  -rp,  --restartPdns         Restart the passive DNS analyzer (after editing conf/analyzer.conf)
  -h,   --help                Show this help
  (no option)                 Interactive menu
EOF
}

# ---------------------------------------------------------------------------------------------
# Configuration

# ini_get FILE SECTION KEY DEFAULT: a value from an INI file (configparser style, `=` or `:`).
ini_get() {
    local file=$1 section=$2 key=$3 default=${4:-}
    local value=""
    if [ -f "$file" ]; then
        value=$(awk -v s="[$section]" -v k="$key" '
            /^[ \t]*[#;]/ { next }
            /^[ \t]*\[/ { gsub(/^[ \t]+|[ \t\r]+$/, ""); insec = ($0 == s); next }
            insec {
                line = $0; sub(/\r$/, "", line)
                p = match(line, /[=:]/); if (!p) next
                name = substr(line, 1, p - 1); gsub(/^[ \t]+|[ \t]+$/, "", name)
                if (tolower(name) == tolower(k)) { v = substr(line, p + 1); gsub(/^[ \t]+|[ \t]+$/, "", v); print v; exit }
            }' "$file")
    fi
    echo "${value:-$default}"
}

# ensure_conf: creates conf/*.conf from the samples when missing (never overwrites).
ensure_conf() {
    mkdir -p conf logs run data
    local name
    for name in server.conf analyzer.conf launch.conf; do
        if [ ! -f "conf/$name" ]; then
            [ -f "$ROOT/conf/$name.sample" ] || fail "missing $ROOT/conf/$name.sample"
            cp "$ROOT/conf/$name.sample" "conf/$name"
            info "Created conf/$name from the sample"
        fi
    done
    # Launcher settings: STORE_SERVER (d4-kv | redis-server | valkey-server | external).
    STORE_SERVER=d4-kv
    COF_PORT=8400
    # shellcheck disable=SC1091
    . conf/launch.conf
}

# ensure_certs: the root CA and server certificate, made with gen_cert/ when missing.
ensure_certs() {
    local cert key
    cert=$(ini_get conf/server.conf D4_Server tls_cert_file gen_cert/server.crt)
    key=$(ini_get conf/server.conf D4_Server tls_key_file gen_cert/server.key)
    if [ -f "$cert" ] && [ -f "$key" ]; then return; fi
    command -v openssl >/dev/null || fail "openssl is needed to create the TLS certificate (apt-get install openssl)"
    mkdir -p gen_cert
    if [ "$D4_HOME" != "$ROOT" ]; then
        cp "$ROOT"/gen_cert/{gen_root.sh,gen_cert.sh,openssl.cnf,server_ext.cnf} gen_cert/
    fi
    info "Creating the TLS certificates in gen_cert/"
    if [ ! -f gen_cert/rootCA.crt ]; then bash gen_cert/gen_root.sh >/dev/null || fail "gen_root.sh failed"; fi
    bash gen_cert/gen_cert.sh >/dev/null || fail "gen_cert.sh failed"
}

# ensure_build [BIN...]: builds the release binaries (cargo only rebuilds what is stale) and
# checks that the named ones (default: all that -l runs) exist.
ensure_build() {
    if [ "$BUILD" = 1 ]; then
        if command -v cargo >/dev/null; then
            info "Building the release binaries (cargo build --release)"
            (cd "$ROOT" && cargo build --release --bins --quiet) || fail "cargo build failed"
        elif [ ! -x "$BIN/d4-server" ]; then
            fail "cargo is not installed and $BIN has no binaries"
        fi
    fi
    local b needed=("$@")
    if [ ${#needed[@]} -eq 0 ]; then needed=(d4-server d4-workers d4-web d4-queues pdns-ingestion pdns-cof-server); fi
    if [ "$STORE_SERVER" = d4-kv ]; then needed+=(d4-kv); fi
    for b in "${needed[@]}"; do
        [ -x "$BIN/$b" ] || fail "$BIN/$b is missing"
    done
}

# ---------------------------------------------------------------------------------------------
# Processes: pid files in run/, logs in logs/, optionally inside screen windows.

has_screen() { command -v screen >/dev/null; }

screen_exists() { has_screen && screen -ls 2>/dev/null | grep -q "[0-9]\.$1[[:space:]]"; }

pid_alive() {
    local pidfile="run/$1.pid"
    [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

# start NAME SESSION CMD...: runs CMD under the name NAME (pid file, log file), in a window of
# the screen session SESSION when screen is available.
start() {
    local name=$1 session=$2; shift 2
    if pid_alive "$name"; then
        warn "$name is already running (pid $(cat "run/$name.pid")), not started again"
        return
    fi
    rm -f "run/$name.pid"
    if has_screen; then
        if screen_exists "$session"; then
            screen -S "$session" -X screen -t "$name" "$ROOT/LAUNCH.sh" __run "$name" "$@"
        else
            screen -dmS "$session" -t "$name" "$ROOT/LAUNCH.sh" __run "$name" "$@"
        fi
    else
        nohup "$ROOT/LAUNCH.sh" __run "$name" "$@" </dev/null >/dev/null 2>&1 &
    fi
    local i
    for i in $(seq 1 50); do
        pid_alive "$name" && break
        sleep 0.1
    done
    pid_alive "$name" || fail "$name did not start, see logs/$name.log"
    local where=""
    if has_screen; then where=", screen $session"; fi
    info "$name started (pid $(cat "run/$name.pid"), log logs/$name.log$where)"
}

# __run NAME CMD...: the body of one window: runs CMD with its output in logs/NAME.log (and on
# the terminal), records its pid, and keeps a screen window open after it exits.
run_one() {
    local name=$1; shift
    "$@" > >(tee -a "logs/$name.log") 2>&1 &
    local pid=$!
    echo "$pid" > "run/$name.pid"
    trap 'kill -TERM $pid 2>/dev/null' TERM INT
    local rc
    wait "$pid"; rc=$?
    # A trapped signal interrupts `wait`; keep waiting until the process has really exited.
    while kill -0 "$pid" 2>/dev/null; do wait "$pid"; rc=$?; done
    rm -f "run/$name.pid"
    echo "[$name exited with status $rc]" | tee -a "logs/$name.log"
    if [ -t 0 ] && [ -n "${STY:-}" ]; then read -r -p "press ENTER to close this window" _; fi
}

# stop NAME [SECONDS]: SIGTERM, wait, then SIGKILL.
stop() {
    local name=$1 wait_s=${2:-15}
    pid_alive "$name" || { rm -f "run/$name.pid"; return 1; }
    local pid
    pid=$(cat "run/$name.pid")
    kill -TERM "$pid" 2>/dev/null
    local i
    for i in $(seq 1 $((wait_s * 10))); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        warn "$name did not stop in ${wait_s}s, killing it"
        kill -KILL "$pid" 2>/dev/null
    fi
    rm -f "run/$name.pid"
    info "$name stopped"
}

# ---------------------------------------------------------------------------------------------
# Stores

is_local_host() { case "$1" in localhost|127.*|::1|"") return 0 ;; *) return 1 ;; esac; }

# store_ports: the local store ports named by the configuration (stream, metadata, pDNS).
store_ports() {
    local ports=() s host port
    for s in Redis_STREAM Redis_METADATA Redis_SERV Redis_ANALYZER Redis_CACHE; do
        host=$(ini_get conf/server.conf "$s" host localhost)
        port=$(ini_get conf/server.conf "$s" port)
        if [ -n "$port" ] && is_local_host "$host"; then ports+=("$port"); fi
    done
    host=${D4_ANALYZER_REDIS_HOST:-$(ini_get conf/analyzer.conf store host 127.0.0.1)}
    port=${D4_ANALYZER_REDIS_PORT:-$(ini_get conf/analyzer.conf store port 6400)}
    if is_local_host "$host"; then ports+=("$port"); fi
    printf '%s\n' "${ports[@]}" | awk '!seen[$0]++'
}

# store_ping PORT: true when the store on 127.0.0.1:PORT answers PONG.
store_ping() {
    local port=$1 reply=""
    if command -v redis-cli >/dev/null; then
        reply=$(redis-cli -h 127.0.0.1 -p "$port" PING 2>/dev/null)
    else
        reply=$( (exec 3<>"/dev/tcp/127.0.0.1/$port" && printf 'PING\r\n' >&3 && read -r -t 2 line <&3 && echo "$line") 2>/dev/null)
    fi
    [[ "$reply" == *PONG* ]]
}

# store_shutdown PORT: asks the store to persist and exit.
store_shutdown() {
    local port=$1
    if command -v redis-cli >/dev/null; then
        redis-cli -h 127.0.0.1 -p "$port" SHUTDOWN >/dev/null 2>&1
    else
        (exec 3<>"/dev/tcp/127.0.0.1/$port" && printf 'SHUTDOWN\r\n' >&3 && read -r -t 5 _ <&3) 2>/dev/null
    fi
    return 0
}

launch_stores() {
    if [ "$STORE_SERVER" = external ]; then
        info "STORE_SERVER=external: not starting any store"
        return
    fi
    local port cmd
    case "$STORE_SERVER" in
        d4-kv) cmd="$BIN/d4-kv" ;;
        redis-server|valkey-server) cmd=$(command -v "$STORE_SERVER") || fail "$STORE_SERVER is not installed" ;;
        *) fail "conf/launch.conf: unknown STORE_SERVER=$STORE_SERVER (d4-kv, redis-server, valkey-server, external)" ;;
    esac
    for port in $(store_ports); do
        if store_ping "$port"; then
            warn "a store already answers on port $port, not started again"
            continue
        fi
        mkdir -p "data/store/$port"
        local args=()
        if [ -f "conf/store-$port.conf" ]; then args+=("conf/store-$port.conf"); fi
        args+=(--port "$port" --bind 127.0.0.1 --dir "data/store/$port" --appendonly yes --appendfsync everysec)
        if [ "$STORE_SERVER" != d4-kv ]; then args+=(--save "" --daemonize no); fi
        start "store-$port" Redis_D4 "$cmd" "${args[@]}"
    done
}

wait_stores() {
    [ "$STORE_SERVER" = external ] && return
    local port i
    for port in $(store_ports); do
        for i in $(seq 1 100); do
            store_ping "$port" && break
            sleep 0.1
        done
        store_ping "$port" || fail "the store on port $port is not answering, see logs/store-$port.log"
    done
    info "Stores ready on ports $(store_ports | tr '\n' ' ')"
}

# ---------------------------------------------------------------------------------------------
# Services

launch_server() { start d4-server Server_D4 "$BIN/d4-server" -c conf/server.conf; }
launch_workers() { start d4-workers Workers_D4 "$BIN/d4-workers" -c conf/server.conf; }
launch_web() { start d4-web Flask_D4 "$BIN/d4-web" -c conf/server.conf; }
launch_pdns() {
    start pdns-ingestion pdns "$BIN/pdns-ingestion" -c conf/analyzer.conf
    start pdns-cof-server pdns "$BIN/pdns-cof-server" -c conf/analyzer.conf --port "$COF_PORT"
}

# quickstart: creates the type-8 analyzer queue for the built-in analyzer (once) and writes its
# uuid into conf/analyzer.conf, so passive DNS works without the manual web step.
quickstart() {
    local current
    current=$(ini_get conf/analyzer.conf global my-uuid)
    if [ -n "$current" ] && [ "$current" != "None" ] && "$BIN/d4-queues" -c conf/server.conf exists "$current" >/dev/null 2>&1; then
        info "Analyzer queue $current already exists"
        return
    fi
    local uuid
    uuid=$("$BIN/d4-queues" -c conf/server.conf create --type 8 --description "built-in passive DNS analyzer (quickstart)") \
        || fail "could not create the analyzer queue"
    "$BIN/d4-queues" set-analyzer-uuid conf/analyzer.conf "$uuid" || fail "could not update conf/analyzer.conf"
    info "Created analyzer queue $uuid (type 8) and wrote it to conf/analyzer.conf"
}

wait_port() {
    local port=$1 name=$2 i
    for i in $(seq 1 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
        sleep 0.1
    done
    warn "$name is not listening on port $port yet, see logs/$name.log"
}

launch_all() {
    ensure_conf
    ensure_build
    ensure_certs
    launch_stores
    wait_stores
    local d4port webhost webport
    d4port=$(ini_get conf/server.conf D4_Server server_port 4443)
    webhost=$(ini_get conf/server.conf Flask_Server host 127.0.0.1)
    webport=$(ini_get conf/server.conf Flask_Server port 7000)
    launch_server
    # The server seeds the accepted types at start; queues can be created after that.
    wait_port "$d4port" d4-server
    if [ "$QUICKSTART" = 1 ]; then quickstart; fi
    launch_workers
    launch_web
    launch_pdns
    wait_port "$webport" d4-web
    wait_port "$COF_PORT" pdns-cof-server
    echo
    info "D4 server (TLS):      port $d4port"
    info "Web admin:            https://$webhost:$webport"
    if [ -f DEFAULT_PASSWORD ]; then
        info "First login:          see $(pwd)/DEFAULT_PASSWORD"
    fi
    info "Passive DNS (COF):    http://127.0.0.1:$COF_PORT/query/<name>"
    info "Logs: $(pwd)/logs/   Stop: ./LAUNCH.sh -k"
}

kill_all() {
    ensure_conf
    local stopped=0 name port
    # Intake first, then the workers drain, then the web and analyzer; the stores last.
    for name in d4-server d4-workers d4-web pdns-ingestion pdns-cof-server; do
        stop "$name" 30 && stopped=1
    done
    for port in $(store_ports); do
        if pid_alive "store-$port"; then
            local pid
            pid=$(cat "run/store-$port.pid")
            store_shutdown "$port"
            local i
            for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            if kill -0 "$pid" 2>/dev/null; then stop "store-$port" 30; else info "store-$port stopped (data saved)"; fi
            rm -f "run/store-$port.pid"
            stopped=1
        fi
    done
    if has_screen; then
        local s
        for s in Server_D4 Workers_D4 Flask_D4 pdns Redis_D4; do
            screen_exists "$s" && screen -S "$s" -X quit >/dev/null 2>&1
        done
    fi
    if [ "$stopped" = 0 ]; then echo "No process to kill"; fi
}

menu() {
    local options=("Redis" "D4-Server" "Workers-manager" "Flask" "Passive-DNS" "Killall")
    local checked=(0 0 0 0 0 0)
    while true; do
        echo "What do you want to start? (number to toggle, ENTER to run)"
        local i
        for i in "${!options[@]}"; do
            printf '  %d) [%s] %s\n' "$((i + 1))" "$([ "${checked[$i]}" = 1 ] && echo x || echo ' ')" "${options[$i]}"
        done
        local choice
        read -r -p "> " choice || return
        if [ -z "$choice" ]; then break; fi
        if [[ "$choice" =~ ^[1-6]$ ]]; then
            checked[$((choice - 1))]=$((1 - checked[$((choice - 1))]))
        else
            warn "Invalid option: $choice"
        fi
    done
    ensure_conf
    if [ "${checked[5]}" = 1 ]; then kill_all; return; fi
    ensure_build
    ensure_certs
    if [ "${checked[0]}" = 1 ]; then launch_stores; wait_stores; fi
    if [ "${checked[1]}" = 1 ]; then launch_server; fi
    if [ "${checked[2]}" = 1 ]; then launch_workers; fi
    if [ "${checked[3]}" = 1 ]; then launch_web; fi
    if [ "${checked[4]}" = 1 ]; then launch_pdns; fi
}

# ---------------------------------------------------------------------------------------------

QUICKSTART=0
if [ "${1:-}" = "__run" ]; then
    shift
    run_one "$@"
    exit $?
fi

if [ $# -eq 0 ]; then
    banner
    menu
    exit 0
fi

actions=()
for arg in "$@"; do
    case "$arg" in
        -l|--launchAuto) actions+=(launch) ;;
        -k|--killAll) actions+=(kill) ;;
        -lrv|--launchRedisVerify) actions+=(redis) ;;
        -q|--quickstart) QUICKSTART=1 ;;
        -rp|--restartPdns) actions+=(pdns) ;;
        -h|--help) banner; exit 0 ;;
        *) banner; echo "Unknown option: $arg" >&2; exit 1 ;;
    esac
done
if [ "$QUICKSTART" = 1 ] && [ ${#actions[@]} -eq 0 ]; then actions+=(launch); fi
for a in "${actions[@]}"; do
    case "$a" in
        launch) launch_all ;;
        kill) kill_all ;;
        redis) ensure_conf; ensure_build d4-kv; launch_stores; wait_stores ;;
        pdns)
            ensure_conf
            ensure_build pdns-ingestion pdns-cof-server
            stop pdns-ingestion 30; stop pdns-cof-server 30
            launch_pdns
            ;;
    esac
done
