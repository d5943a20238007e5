#!/usr/bin/env bash
# d4-rs launcher, compatible with the upstream d4-core LAUNCH.sh:
#   ./LAUNCH.sh -l | --launchAuto         build if needed, then start stores, server, workers, web, pDNS analyzer
#   ./LAUNCH.sh -k | --killAll            stop everything gracefully (stores last); safe to run twice
#   ./LAUNCH.sh -lrv | --launchRedisVerify start the stores and wait until they answer
#   ./LAUNCH.sh -q | --quickstart         with -l: create the type-8 queue of the built-in analyzer
#                                         and write its uuid into conf/analyzer.conf
#   ./LAUNCH.sh -rp | --restartPdns       restart the passive DNS analyzer (after editing analyzer.conf)
#   ./LAUNCH.sh --check                   check both config files, the certificate and that the stores
#                                         answer, without starting anything (exit 1 on any problem)
#   ./LAUNCH.sh -h | --help               this help
#   ./LAUNCH.sh                           interactive menu
#
# Processes run in the upstream screen sessions (Redis_D4, Server_D4, Workers_D4, Flask_D4, pdns)
# when `screen` is installed, otherwise in the background; either way with pid files in run/ and
# logs in logs/. After starting, -l waits for each service to be ready (its port answers or its
# log says so) and reports the ones that are not, with the last WARN/ERROR lines of their log;
# it then exits non-zero. Environment: D4_HOME (where conf/, data/, logs/, run/ live; default:
# this directory), D4_BIN (directory of the binaries; default: target/release, built with cargo),
# D4_READY_TIMEOUT (seconds -l waits for the services to be ready; default 30), D4_SCREEN=0
# (never use screen).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
D4_HOME=${D4_HOME:-$ROOT}
BUILD=1
if [ -n "${D4_BIN:-}" ]; then BUILD=0; fi
BIN=${D4_BIN:-$ROOT/target/release}
READY_TIMEOUT=${D4_READY_TIMEOUT:-30}
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
        --check               Check the config files, the certificate and the stores; start nothing
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
            # The copies hold the HMAC key (and, in analyzer.conf, any COF password): owner only.
            install -m 600 "$ROOT/conf/$name.sample" "conf/$name"
            info "Created conf/$name from the sample"
        fi
    done
    # Launcher settings: STORE_SERVER (d4-kv | redis-server | valkey-server | external).
    STORE_SERVER=d4-kv
    COF_PORT=8400
    # shellcheck disable=SC1091
    . conf/launch.conf
}

# The certificate and key LAUNCH.sh generates, and the defaults of [D4_Server] tls_*_file.
DEFAULT_CERT=gen_cert/server.crt
DEFAULT_KEY=gen_cert/server.key

# cert_problem: prints why the configured certificate cannot be used (a configured path that
# does not exist, which LAUNCH.sh must not paper over by generating another one); nothing
# when the files exist or are the default ones, which ensure_certs may generate.
cert_problem() {
    local opt value default
    for opt in tls_cert_file tls_key_file; do
        default=$DEFAULT_CERT
        if [ "$opt" = tls_key_file ]; then default=$DEFAULT_KEY; fi
        value=$(ini_get conf/server.conf D4_Server "$opt" "$default")
        if [ ! -f "$value" ] && [ "$value" != "$default" ]; then
            echo "conf/server.conf [D4_Server] $opt = $value: no such file (fix the path, or remove the option to use the generated $default)"
        fi
    done
}

# ensure_certs: the root CA and server certificate, made with gen_cert/ only when the
# configured files are the default ones and missing; a wrong configured path stops here.
ensure_certs() {
    local cert key problem
    problem=$(cert_problem)
    [ -z "$problem" ] || fail "$problem"
    cert=$(ini_get conf/server.conf D4_Server tls_cert_file "$DEFAULT_CERT")
    key=$(ini_get conf/server.conf D4_Server tls_key_file "$DEFAULT_KEY")
    if [ -f "$cert" ] && [ -f "$key" ]; then return; fi
    command -v openssl >/dev/null || fail "openssl is needed to create the TLS certificate (apt-get install openssl)"
    mkdir -p gen_cert
    if [ "$D4_HOME" != "$ROOT" ]; then
        cp "$ROOT"/gen_cert/{gen_root.sh,gen_cert.sh,openssl.cnf,server_ext.cnf} gen_cert/
    fi
    info "Creating the TLS certificates in gen_cert/"
    if [ ! -f gen_cert/rootCA.crt ]; then bash gen_cert/gen_root.sh >/dev/null || fail "gen_root.sh failed"; fi
    bash gen_cert/gen_cert.sh >/dev/null || fail "gen_cert.sh failed"
    chmod 600 gen_cert/*.key
}

# ensure_build [BIN...]: builds the release binaries (cargo only rebuilds what is stale) and
# checks that the named ones (default: all that -l runs) exist.
ensure_build() {
    if [ "$BUILD" = 1 ]; then
        if command -v cargo >/dev/null; then
            if [ ! -x "$BIN/d4-server" ]; then
                info "First build of the release binaries (cargo build --release --bins): it compiles"
                info "about 350 crates, roughly 4 minutes on 2 quiet cores (longer on a busy machine); later"
                info "starts only rebuild what changed. Cargo's progress follows."
            else
                info "Checking the release binaries are up to date (cargo build --release --bins)"
            fi
            (cd "$ROOT" && cargo build --release --bins) || fail "cargo build failed"
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

# has_screen: screen is installed and not turned off with D4_SCREEN=0 (e.g. by tests, whose
# stacks must not share the global session names).
has_screen() { [ "${D4_SCREEN:-1}" != 0 ] && command -v screen >/dev/null; }

# Size of each log when its service was started by this run (see log_since).
declare -A LOG_START=()
# Services found not ready by wait_ready, for the final status.
NOT_READY=()

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
    # Logs may hold secrets a daemon prints on a terminal: owner only. Readiness reads only
    # what this start appends.
    (umask 077 && touch "logs/$name.log")
    LOG_START[$name]=$(wc -c <"logs/$name.log")
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

# store_ping PORT [HOST]: true when the store on HOST (default 127.0.0.1):PORT answers PONG.
store_ping() {
    local port=$1 host=${2:-127.0.0.1} reply=""
    if command -v redis-cli >/dev/null; then
        reply=$(timeout 5 redis-cli -h "$host" -p "$port" PING 2>/dev/null)
    else
        reply=$( (exec 3<>"/dev/tcp/$host/$port" && printf 'PING\r\n' >&3 && read -r -t 2 line <&3 && echo "$line") 2>/dev/null)
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

# wait_stores: waits for the local stores; external ones are only checked (the services
# retry until they answer, and wait_ready reports them).
wait_stores() {
    local port i
    if [ "$STORE_SERVER" = external ]; then
        for port in $(store_ports); do
            store_ping "$port" || warn "no store answers on port $port (STORE_SERVER=external): the services will wait for it"
        done
        return
    fi
    for port in $(store_ports); do
        for i in $(seq 1 $((READY_TIMEOUT * 10))); do
            store_ping "$port" && break
            sleep 0.1
        done
        if ! store_ping "$port"; then
            report_not_ready "store-$port" "no answer on port $port after ${READY_TIMEOUT}s"
            fail "a store is not answering; nothing else was started"
        fi
    done
    info "Stores ready on ports $(store_ports | tr '\n' ' ')"
}

# ---------------------------------------------------------------------------------------------
# Readiness: a service is ready when its process runs and its port answers (server, web, COF)
# or its log, since this start, has the line it writes once its stores are connected.

# log_since NAME: what NAME wrote to its log since this run started it (the whole log if it
# was already running).
log_since() {
    local file="logs/$1.log"
    [ -f "$file" ] || return 0
    tail -c +$((${LOG_START[$1]:-0} + 1)) "$file"
}

# port_open PORT: true when something accepts TCP connections on 127.0.0.1:PORT.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# ready_line NAME: the log line that says a service without a port is ready.
ready_line() {
    case "$1" in
        d4-workers) echo "D4 workers running" ;;
        pdns-ingestion) echo "Starting and using FIFO" ;;
    esac
}

# is_ready NAME: true when NAME runs and is ready (see above).
is_ready() {
    pid_alive "$1" || return 1
    case "$1" in
        d4-server) port_open "$D4PORT" ;;
        d4-web) port_open "$WEBPORT" ;;
        pdns-cof-server) port_open "$COF_PORT" ;;
        *) log_since "$1" | grep -qF "$(ready_line "$1")" ;;
    esac
}

# problems NAME: the last WARN/ERROR lines NAME logged since this start (the operator's
# "why"), else its last lines.
problems() {
    local lines
    lines=$(log_since "$1" | grep -E '(^|[[:space:]])(WARN|ERROR)[[:space:]]|^\[.* exited with status' | tail -n 2)
    if [ -z "$lines" ]; then lines=$(log_since "$1" | tail -n 3); fi
    echo "$lines"
}

# report_not_ready NAME WHY: prints why NAME is not ready, with its log's reason.
report_not_ready() {
    local name=$1 why=$2 line
    NOT_READY+=("$name")
    echo "${RED}✗ $name NOT ready: $why${DEFAULT}" >&2
    while IFS= read -r line; do
        [ -n "$line" ] && echo "    $line" >&2
    done < <(problems "$name")
    echo "    full log: $(pwd)/logs/$name.log" >&2
}

# wait_ready NAME...: waits up to READY_TIMEOUT seconds for the services to be ready;
# reports each one that is, that exited, or that is still not ready at the deadline.
wait_ready() {
    local deadline=$((SECONDS + READY_TIMEOUT)) pending=("$@") still name warned
    while [ ${#pending[@]} -gt 0 ]; do
        still=()
        for name in "${pending[@]}"; do
            if is_ready "$name"; then
                info "$name ready"
                warned=$(log_since "$name" | grep -E '(^|[[:space:]])(WARN|ERROR)[[:space:]]' | tail -n 1)
                if [ -n "$warned" ]; then warn "$name logged: $warned"; fi
            elif ! pid_alive "$name"; then
                report_not_ready "$name" "it exited"
            else
                still+=("$name")
            fi
        done
        pending=("${still[@]}")
        if [ ${#pending[@]} -gt 0 ] && [ "$SECONDS" -ge "$deadline" ]; then
            for name in "${pending[@]}"; do
                report_not_ready "$name" "still not ready after ${READY_TIMEOUT}s (it keeps running and retrying)"
            done
            return
        fi
        [ ${#pending[@]} -gt 0 ] && sleep 0.2
    done
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

launch_all() {
    ensure_conf
    ensure_build
    ensure_certs
    validate_server_conf
    launch_stores
    wait_stores
    D4PORT=$(ini_get conf/server.conf D4_Server server_port 4443)
    WEBPORT=$(ini_get conf/server.conf Flask_Server port 7000)
    local webhost
    webhost=$(ini_get conf/server.conf Flask_Server host 127.0.0.1)
    launch_server
    # The server seeds the accepted types at start; queues can be created after that.
    info "Waiting up to ${READY_TIMEOUT}s for each service to be ready (D4_READY_TIMEOUT)"
    wait_ready d4-server
    if [ "$QUICKSTART" = 1 ]; then
        if pid_alive d4-server && [[ " ${NOT_READY[*]} " != *" d4-server "* ]]; then
            quickstart
        else
            warn "d4-server is not ready: the analyzer queue was not created (-q)"
        fi
    fi
    launch_workers
    launch_web
    launch_pdns
    wait_ready d4-workers d4-web pdns-ingestion pdns-cof-server
    echo
    info "D4 server (TLS):      port $D4PORT"
    info "Web admin:            https://$webhost:$WEBPORT"
    if [ -f DEFAULT_PASSWORD ]; then
        info "First login:          see $(pwd)/DEFAULT_PASSWORD"
    fi
    info "Passive DNS (COF):    http://127.0.0.1:$COF_PORT/query/<name>"
    info "Logs: $(pwd)/logs/   Stop: ./LAUNCH.sh -k"
    if [ ${#NOT_READY[@]} -gt 0 ]; then
        fail "not ready: ${NOT_READY[*]} (reasons above; the running ones keep retrying, ./LAUNCH.sh -k stops everything)"
    fi
}

# validate_server_conf: d4-server --validate (options, sections, certificate), so a bad
# server.conf stops here with its message instead of in a log.
validate_server_conf() {
    local out
    out=$("$BIN/d4-server" --validate -c conf/server.conf 2>&1) || fail "conf/server.conf: $(echo "$out" | tail -n 1)"
}

# ---------------------------------------------------------------------------------------------
# --check: the configuration, the certificate and the stores, without starting anything.

# check_problem TEXT: records and prints one problem found by --check.
check_problem() {
    CHECK_FAILED=1
    echo "${RED}✗ $*${DEFAULT}"
}

# check_validate WHAT BIN ARGS...: runs BIN ARGS --validate, reporting its verdict on WHAT.
check_validate() {
    local what=$1 bin=$2 out; shift 2
    if out=$("$BIN/$bin" "$@" --validate 2>&1); then
        info "$what: OK ($bin --validate)"
    else
        check_problem "$what: $(echo "$out" | tail -n 1)"
    fi
}

# check_store NAME HOST PORT: reports whether the store answers PING.
check_store() {
    if store_ping "$3" "$2"; then
        info "$1 ($2:$3): answers"
    else
        check_problem "$1 ($2:$3): no answer (is the store running? ./LAUNCH.sh -lrv starts the local ones)"
    fi
}

check_all() {
    CHECK_FAILED=0
    local name missing=0
    for name in server.conf analyzer.conf; do
        if [ ! -f "conf/$name" ]; then
            check_problem "conf/$name is missing (./LAUNCH.sh -l creates it from conf/$name.sample)"
            missing=1
        fi
    done
    [ "$missing" = 0 ] || exit 1
    STORE_SERVER=d4-kv
    COF_PORT=8400
    # shellcheck disable=SC1091
    if [ -f conf/launch.conf ]; then . conf/launch.conf; fi
    for name in d4-server d4-web pdns-ingestion; do
        [ -x "$BIN/$name" ] || { check_problem "$BIN/$name is missing (./LAUNCH.sh -l builds it)"; exit 1; }
    done
    local problem
    problem=$(cert_problem)
    if [ -n "$problem" ]; then check_problem "$problem"; fi
    check_validate conf/server.conf d4-server -c conf/server.conf
    if [ "$CHECK_FAILED" = 0 ]; then check_validate "d4-web (templates, certificate)" d4-web -c conf/server.conf; fi
    check_validate conf/analyzer.conf pdns-ingestion -c conf/analyzer.conf
    local section host port default_port
    for section in Redis_STREAM Redis_METADATA Redis_SERV Redis_ANALYZER Redis_CACHE; do
        if ! grep -q "^[[:space:]]*\[$section\]" conf/server.conf; then continue; fi
        default_port=6380
        if [ "$section" = Redis_STREAM ]; then default_port=6379; fi
        host=$(ini_get conf/server.conf "$section" host localhost)
        port=$(ini_get conf/server.conf "$section" port "$default_port")
        check_store "$section" "$host" "$port"
    done
    host=${D4_ANALYZER_REDIS_HOST:-$(ini_get conf/analyzer.conf store host 127.0.0.1)}
    port=${D4_ANALYZER_REDIS_PORT:-$(ini_get conf/analyzer.conf store port 6400)}
    check_store "pDNS store" "$host" "$port"
    if [ "$CHECK_FAILED" = 0 ]; then info "All checks passed"; else exit 1; fi
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
    D4PORT=$(ini_get conf/server.conf D4_Server server_port 4443)
    WEBPORT=$(ini_get conf/server.conf Flask_Server port 7000)
    local started=()
    if [ "${checked[0]}" = 1 ]; then launch_stores; wait_stores; fi
    if [ "${checked[1]}" = 1 ]; then launch_server; started+=(d4-server); fi
    if [ "${checked[2]}" = 1 ]; then launch_workers; started+=(d4-workers); fi
    if [ "${checked[3]}" = 1 ]; then launch_web; started+=(d4-web); fi
    if [ "${checked[4]}" = 1 ]; then launch_pdns; started+=(pdns-ingestion pdns-cof-server); fi
    if [ ${#started[@]} -gt 0 ]; then wait_ready "${started[@]}"; fi
    if [ ${#NOT_READY[@]} -gt 0 ]; then fail "not ready: ${NOT_READY[*]} (reasons above)"; fi
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
        --check) actions+=(check) ;;
        -h|--help) banner; exit 0 ;;
        *) banner; echo "Unknown option: $arg" >&2; exit 1 ;;
    esac
done
if [ "$QUICKSTART" = 1 ] && [ ${#actions[@]} -eq 0 ]; then actions+=(launch); fi
for a in "${actions[@]}"; do
    case "$a" in
        launch) launch_all ;;
        kill) kill_all ;;
        check) check_all ;;
        redis) ensure_conf; ensure_build d4-kv; launch_stores; wait_stores ;;
        pdns)
            ensure_conf
            ensure_build pdns-ingestion pdns-cof-server
            stop pdns-ingestion 30; stop pdns-cof-server 30
            launch_pdns
            wait_ready pdns-ingestion pdns-cof-server
            if [ ${#NOT_READY[@]} -gt 0 ]; then fail "not ready: ${NOT_READY[*]} (reasons above)"; fi
            ;;
    esac
done
