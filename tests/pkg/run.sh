#!/usr/bin/env bash
# The production install path, end to end (issue 17). As root on Debian 12, after the
# release build:
#   1. builds the Debian packages with cargo-deb and checks them with lintian (no error);
#   2. installs them with apt-get and checks the user, permissions, conffiles, enabled units,
#      and every unit with `systemd-analyze verify`;
#   3. moves the installed configuration (/etc/d4) to free ports, then starts every daemon
#      the way its unit does (same user, working directory, environment files, ExecStartPre,
#      ExecStart and ExecStartPost lines, read from the installed unit files; systemd itself
#      does not run in CI), in the order of d4.target;
#   4. runs the tutorial against the installed binaries: passivedns lines in with d4-client,
#      COF records out with curl; checks the first-start certificate, admin account and
#      analyzer queue, plain logs and no world-readable secret;
#   5. stops every daemon with SIGTERM (each within its 10 s deadline), removes the packages
#      (/etc/d4 stays), purges them (/etc/d4 and /var/lib/d4 go).
# Leaves the machine as it found it: everything it started is stopped, the packages purged,
# the d4 user deleted if the test created it. Refuses to run when d4 packages, /etc/d4 or
# /var/lib/d4 are already there. Installs lintian, systemd, dpkg-dev and cargo-deb if missing.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
SYSTEMD_DIR=/lib/systemd/system
PACKAGES=(d4-common d4-kv d4-server d4-web d4-analyzer d4-sensor)
CRATES=(d4-core d4-kv d4-server d4-web d4-analyzer d4-sensor)
WORK=$(mktemp -d /tmp/d4-pkg-test.XXXXXX)
CREATED_USER=0
INSTALLED=0
declare -A PID=()    # unit instance -> pid of its main process
STARTED=()           # unit instances in start order

say() { echo "== [${SECONDS}s] $*"; }
fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# ---------------------------------------------------------------------------------------
# Clean-up: runs on every exit, success or not.

# stop_pid NAME: SIGTERM, then SIGKILL after 30 s (the units' TimeoutStopSec).
stop_pid() {
    local name=$1 pid=${PID[$1]:-} i
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 300); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    unset "PID[$name]"
}

cleanup() {
    local rc=$? i
    set +e
    if [ "$rc" != 0 ]; then
        for f in "$WORK"/logs/*.log; do
            [ -f "$f" ] || continue
            echo "----- $f (last 30 lines)"
            tail -n 30 "$f"
        done
    fi
    for ((i = ${#STARTED[@]} - 1; i >= 0; i--)); do
        stop_pid "${STARTED[$i]}"
    done
    if [ "$INSTALLED" = 1 ]; then
        apt-get purge -y "${PACKAGES[@]}" >"$WORK/purge-cleanup.log" 2>&1
        rm -rf /etc/d4 /var/lib/d4
    fi
    if [ "$CREATED_USER" = 1 ] && getent passwd d4 >/dev/null; then
        deluser --system d4 >/dev/null 2>&1
        getent group d4 >/dev/null && delgroup --system d4 >/dev/null 2>&1
    fi
    rm -rf "$WORK"
    echo "tests/pkg/run.sh: $([ "$rc" = 0 ] && echo passed || echo FAILED) in $SECONDS s"
}
trap cleanup EXIT

# ---------------------------------------------------------------------------------------
# Preconditions and tools.

[ "$(id -u)" = 0 ] || fail "run as root (it installs packages)"
for p in "${PACKAGES[@]}"; do
    if dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null | grep -q '^.[ic]'; then
        fail "$p is already installed: this test installs and purges the d4 packages, run it on a machine without them"
    fi
done
for d in /etc/d4 /var/lib/d4; do
    [ ! -e "$d" ] || fail "$d exists: this test would delete it, run it on a machine without D4"
done
getent passwd d4 >/dev/null || CREATED_USER=1

need_apt=()
command -v lintian >/dev/null || need_apt+=(lintian)
command -v systemd-analyze >/dev/null || need_apt+=(systemd)
command -v dpkg-shlibdeps >/dev/null || need_apt+=(dpkg-dev)
command -v curl >/dev/null || need_apt+=(curl)
command -v openssl >/dev/null || need_apt+=(openssl)
command -v ss >/dev/null || need_apt+=(iproute2)
if [ ${#need_apt[@]} -gt 0 ]; then
    say "apt-get install ${need_apt[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
if ! cargo deb --version >/dev/null 2>&1; then
    say "cargo install cargo-deb --locked"
    cargo install cargo-deb --locked
fi

# ---------------------------------------------------------------------------------------
# 1. Build and lint.

say "cargo build --release --bins (nothing to do after the CI build)"
cargo build --release --workspace --bins --quiet
say "cargo deb (${CRATES[*]})"
mkdir -p "$WORK/deb" "$WORK/logs"
for c in "${CRATES[@]}"; do
    # --fast: lighter compression, the same package contents.
    cargo deb -p "$c" --no-build --fast -o "$WORK/deb/" >/dev/null
done
ls "$WORK"/deb/*.deb
[ "$(ls "$WORK"/deb/*.deb | wc -l)" = "${#PACKAGES[@]}" ] || fail "expected ${#PACKAGES[@]} packages"

say "lintian"
lintian --tag-display-limit 0 "$WORK"/deb/*.deb >"$WORK/lintian.txt" 2>&1 || true
grep -E '^[EW]: ' "$WORK/lintian.txt" | sed 's/ \[.*//' | sort | uniq -c || true
if grep -q '^E: ' "$WORK/lintian.txt"; then
    grep '^E: ' "$WORK/lintian.txt"
    fail "lintian reports errors"
fi

# ---------------------------------------------------------------------------------------
# 2. Install.

say "apt-get install ./*.deb"
INSTALLED=1
if ! DEBIAN_FRONTEND=noninteractive apt-get install -y "$WORK"/deb/*.deb >"$WORK/install.log" 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y "$WORK"/deb/*.deb >"$WORK/install.log" 2>&1 ||
        { cat "$WORK/install.log"; fail "apt-get install"; }
fi

# expect_stat PATH "OWNER:GROUP MODE"
expect_stat() {
    local got
    got=$(stat -c '%U:%G %a' "$1") || fail "$1 missing"
    [ "$got" = "$2" ] || fail "$1 is $got, expected $2"
}

say "user, directories, permissions, conffiles"
getent passwd d4 | grep -q ':/var/lib/d4:/usr/sbin/nologin$' || fail "d4 user: $(getent passwd d4)"
expect_stat /etc/d4 "root:d4 750"
expect_stat /var/lib/d4 "d4:d4 750"
for f in server.conf analyzer.conf cof.env kv/stream.conf kv/meta.conf kv/pdns.conf; do
    expect_stat "/etc/d4/$f" "root:d4 640"
done
expect_stat /etc/d4/sensor "root:d4 750"
dpkg-query -W -f='${Conffiles}\n' d4-common | grep -q ' /etc/d4/server.conf ' || fail "server.conf is not a conffile"
dpkg-query -W -f='${Conffiles}\n' d4-analyzer | grep -q ' /etc/d4/analyzer.conf ' || fail "analyzer.conf is not a conffile"
dpkg-query -W -f='${Conffiles}\n' d4-kv | grep -q ' /etc/d4/kv/meta.conf ' || fail "kv/meta.conf is not a conffile"
for u in d4-setup.service d4-kv@stream.service d4-kv@meta.service d4-kv@pdns.service \
    d4-server.service d4-workers.service d4-web.service pdns-ingestion.service pdns-cof-server.service; do
    [ -L "/etc/systemd/system/d4.target.wants/$u" ] || fail "$u is not enabled in d4.target"
done
[ -L /etc/systemd/system/multi-user.target.wants/d4.target ] || fail "d4.target is not enabled"

say "systemd-analyze verify"
UNITS=(d4.target d4-setup.service d4-kv@stream.service d4-kv@meta.service d4-kv@pdns.service
    d4-server.service d4-workers.service d4-web.service pdns-ingestion.service pdns-cof-server.service
    d4-sensor@lo.service d4-passivedns@lo.service d4-client@lo.service)
systemd-analyze verify "${UNITS[@]}" >"$WORK/verify.txt" 2>&1 || { cat "$WORK/verify.txt"; fail "systemd-analyze verify"; }
if grep -Ei 'd4|pdns' "$WORK/verify.txt"; then fail "systemd-analyze verify reports the units above"; fi

# ---------------------------------------------------------------------------------------
# 3. Configuration on free ports, daemons started as their units.

CHOSEN=" "
# free_port: a loopback TCP port nothing listens on, not handed out before.
free_port() {
    local p
    while true; do
        p=$((20000 + RANDOM % 40000))
        case "$CHOSEN" in *" $p "*) continue ;; esac
        if ! ss -Htln "sport = :$p" | grep -q .; then
            CHOSEN+="$p "
            echo "$p"
            return
        fi
    done
}
P_STREAM=$(free_port); P_META=$(free_port); P_PDNS=$(free_port)
P_D4=$(free_port); P_WEB=$(free_port); P_COF=$(free_port)
say "ports: stream $P_STREAM meta $P_META pdns $P_PDNS d4 $P_D4 web $P_WEB cof $P_COF"
sed -i "s/^port .*/port $P_STREAM/" /etc/d4/kv/stream.conf
sed -i "s/^port .*/port $P_META/" /etc/d4/kv/meta.conf
sed -i "s/^port .*/port $P_PDNS/" /etc/d4/kv/pdns.conf
sed -i -e "s/^server_port = 4443/server_port = $P_D4/" -e "s/^port = 7000/port = $P_WEB/" \
    -e "s/^port = 6379/port = $P_STREAM/" -e "s/^port = 6380/port = $P_META/" \
    -e "s/^server_mode = registration/server_mode = shared-secret/" /etc/d4/server.conf
sed -i "s/^d4-server = 127.0.0.1:6380/d4-server = 127.0.0.1:$P_META/" /etc/d4/analyzer.conf
printf '\n[store]\nhost = 127.0.0.1\nport = %s\n' "$P_PDNS" >>/etc/d4/analyzer.conf
sed -i "s/^COF_PORT=.*/COF_PORT=$P_COF/" /etc/d4/cof.env

# unit_values FILE KEY: the values of KEY= in the unit FILE, one per line, in order.
unit_values() { sed -n "s/^$2=//p" "$1"; }

# unit_file INSTANCE: the installed file of a unit (the template for name@instance).
unit_file() {
    local u=$1
    case "$u" in *@*.*) u="${u%%@*}@.${u##*.}" ;; esac
    [ -f "$SYSTEMD_DIR/$u" ] || fail "no unit file $SYSTEMD_DIR/$u"
    echo "$SYSTEMD_DIR/$u"
}

# unit_shell UNIT COMMAND: the shell text that runs COMMAND (an Exec line without prefix)
# in the unit's context: working directory, umask, Environment=, EnvironmentFile=, %i.
unit_shell() {
    local unit=$1 cmd=$2 file inst="" text="" v
    file=$(unit_file "$unit")
    case "$unit" in *@*.*) inst=${unit#*@}; inst=${inst%.*} ;; esac
    v=$(unit_values "$file" WorkingDirectory); [ -n "$v" ] && text+="cd $v && "
    v=$(unit_values "$file" UMask); [ -n "$v" ] && text+="umask $v && "
    text+="set -a && "
    while IFS= read -r v; do [ -n "$v" ] && text+="$v && "; done < <(unit_values "$file" Environment)
    while IFS= read -r v; do
        [ -n "$v" ] || continue
        if [ "${v#-}" != "$v" ]; then text+="{ [ ! -f ${v#-} ] || . ${v#-}; } && "; else text+=". $v && "; fi
    done < <(unit_values "$file" EnvironmentFile)
    text+="set +a && exec $cmd"
    echo "${text//%i/$inst}"
}

# as_unit UNIT: the command prefix that switches to the unit's User=, Group= and ambient
# capabilities, with no_new_privs as NoNewPrivileges=yes.
as_unit() {
    local file user group caps
    file=$(unit_file "$1")
    user=$(unit_values "$file" User); group=$(unit_values "$file" Group)
    caps=$(unit_values "$file" AmbientCapabilities | tr 'A-Z' 'a-z' | sed 's/cap_/+/g; s/ /,/g')
    local cmd=(setpriv "--reuid=$user" "--regid=$group" --init-groups --no-new-privs)
    if [ -n "$caps" ]; then
        cmd+=("--inh-caps=$caps" "--ambient-caps=$caps" "--bounding-set=-all,$caps")
    else
        cmd+=(--bounding-set=-all)
    fi
    echo "${cmd[@]}"
}

# run_exec UNIT KEY: runs each KEY= line (ExecStartPre, ExecStartPost, or a oneshot's
# ExecStart) of UNIT in the foreground; a `-` prefix ignores failure as systemd does.
run_exec() {
    local unit=$1 key=$2 line ignore file
    file=$(unit_file "$unit")
    while IFS= read -r line; do
        [ -n "$line" ] || continue
        ignore=0
        if [ "${line#-}" != "$line" ]; then ignore=1; line=${line#-}; fi
        # shellcheck disable=SC2046
        if ! timeout 120 $(as_unit "$unit") -- bash -c "$(unit_shell "$unit" "$line")" \
            >>"$WORK/logs/$unit.log" 2>&1; then
            [ "$ignore" = 1 ] || fail "$unit: $key=$line failed"
            echo "($unit: $key=$line failed, ignored as its '-' prefix says)"
        fi
    done < <(unit_values "$file" "$key")
}

# start_unit UNIT: ExecStartPre, ExecStart in the background, then ExecStartPost (the
# readiness check), as systemd runs a Type=exec unit.
start_unit() {
    local unit=$1 file cmd
    file=$(unit_file "$unit")
    run_exec "$unit" ExecStartPre
    cmd=$(unit_values "$file" ExecStart)
    [ "$(echo "$cmd" | wc -l)" = 1 ] || fail "$unit: one ExecStart expected"
    # shellcheck disable=SC2046
    $(as_unit "$unit") -- bash -c "$(unit_shell "$unit" "$cmd")" >>"$WORK/logs/$unit.log" 2>&1 &
    PID[$unit]=$!
    STARTED+=("$unit")
    run_exec "$unit" ExecStartPost
    kill -0 "${PID[$unit]}" 2>/dev/null || fail "$unit exited right after its start"
    echo "$unit started (pid ${PID[$unit]})"
}

say "d4.target, unit by unit"
grep -q '^Type=oneshot' "$SYSTEMD_DIR/d4-setup.service" || fail "d4-setup is not a oneshot"
run_exec d4-setup.service ExecStart
echo "d4-setup.service done"
for u in d4-kv@stream.service d4-kv@meta.service d4-kv@pdns.service d4-server.service \
    d4-workers.service d4-web.service pdns-ingestion.service pdns-cof-server.service; do
    start_unit "$u"
done

# ---------------------------------------------------------------------------------------
# 4. First start and the tutorial.

say "first start: certificate, admin account, analyzer queue"
expect_stat /var/lib/d4/gen_cert/server.crt "d4:d4 644"
expect_stat /var/lib/d4/gen_cert/server.key "d4:d4 600"
expect_stat /var/lib/d4/gen_cert/rootCA.key "d4:d4 600"
openssl x509 -in /var/lib/d4/gen_cert/server.crt -noout -checkend 86400 >/dev/null || fail "server.crt"
before=$(stat -c %Y /var/lib/d4/gen_cert/server.crt)
sleep 1
run_exec d4-setup.service ExecStart
[ "$(stat -c %Y /var/lib/d4/gen_cert/server.crt)" = "$before" ] || fail "d4-setup made a new certificate on the second start"
for i in $(seq 1 50); do [ -f /var/lib/d4/DEFAULT_PASSWORD ] && break; sleep 0.1; done
expect_stat /var/lib/d4/DEFAULT_PASSWORD "d4:d4 600"
token=$(sed -n 's/^API_Key=//p' /var/lib/d4/DEFAULT_PASSWORD)
[ -n "$token" ] || fail "no API_Key in DEFAULT_PASSWORD"
code=$(curl -sk -o "$WORK/api.json" -w '%{http_code}' -H "Authorization: $token" \
    "https://127.0.0.1:$P_WEB/api/v1/sensors/monitoring/errors")
[ "$code" = 200 ] || fail "web API with the admin token: HTTP $code $(cat "$WORK/api.json")"
code=$(curl -sk -o /dev/null -w '%{http_code}' "https://127.0.0.1:$P_WEB/login")
[ "$code" = 200 ] || fail "web login page: HTTP $code"
queue=$(sed -n 's/^my-uuid = //p' /etc/d4/analyzer.conf)
setpriv --reuid=d4 --regid=d4 --init-groups d4-queues -c /etc/d4/server.conf exists "$queue" >/dev/null ||
    fail "the analyzer queue $queue was not created"

say "tutorial: d4-client in, curl out"
sensor=$WORK/sensor
mkdir -p "$sensor"
printf 'private key to change\n' >"$sensor/key"
printf 'ff7ba400-e76c-4053-982d-feec42bdef38\n' >"$sensor/uuid"
printf '4096\n' >"$sensor/snaplen"
printf '8\n' >"$sensor/type"
printf '1\n' >"$sensor/version"
printf 'stdin\n' >"$sensor/source"
printf '127.0.0.1:%s\n' "$P_D4" >"$sensor/destination"
cp /var/lib/d4/gen_cert/rootCA.crt "$sensor/rootCA.crt"
# Verified TLS (--cc) against the root CA the first start created.
printf '%s\n' \
    "1700000000.100000||10.0.0.5||10.0.0.1||IN||www.d4-tutorial.example.||A||192.0.2.10||300||1" \
    "1700000100.200000||10.0.0.6||10.0.0.1||IN||www.d4-tutorial.example.||A||192.0.2.10||300||4" \
    "1700000050.300000||10.0.0.5||10.0.0.1||IN||www.d4-tutorial.example.||A||192.0.2.11||300||1" |
    timeout 60 /usr/bin/d4-client -c "$sensor" --cc >"$WORK/logs/d4-client.log" 2>&1 || fail "d4-client"
records=""
for i in $(seq 1 150); do
    records=$(curl -sS --max-time 5 "http://127.0.0.1:$P_COF/query/www.d4-tutorial.example" || true)
    [ "$(printf '%s\n' "$records" | grep -c '"rrname"')" -ge 2 ] && break
    sleep 0.2
done
echo "$records"
[ "$(printf '%s\n' "$records" | grep -c '"rrname"')" = 2 ] || fail "expected 2 COF records"
printf '%s\n' "$records" | grep -E '"rdata": ?"192.0.2.10"' | grep -E '"count": ?2[,}]' |
    grep -E '"time_first": ?1700000000[,}]' | grep -qE '"time_last": ?1700000100[,}]' || fail "record of 192.0.2.10"
printf '%s\n' "$records" | grep -E '"rdata": ?"192.0.2.11"' | grep -E '"count": ?1[,}]' |
    grep -qE '"time_first": ?1700000050[,}]' || fail "record of 192.0.2.11"

say "capture sensor unit (d4-sensor@lo, with its capabilities)"
install -d -o d4 -g d4 -m 0750 /etc/d4/sensor/lo
for f in key snaplen type version source destination; do
    install -o root -g d4 -m 0640 "$sensor/$f" /etc/d4/sensor/lo/
done
printf 'SENSOR_OPTS="-N"\n' >"$WORK/lo.env"
install -o root -g d4 -m 0640 "$WORK/lo.env" /etc/d4/sensor/lo.env
start_unit d4-sensor@lo.service
sleep 2
kill -0 "${PID[d4-sensor@lo.service]}" 2>/dev/null || fail "d4-sensor@lo did not keep running"
grep -qiE 'permission|operation not permitted' "$WORK/logs/d4-sensor@lo.service.log" &&
    fail "d4-sensor@lo lacks a capability"
[ -s /etc/d4/sensor/lo/uuid ] || fail "d4-sensor@lo did not write its uuid"

say "no world-readable secret, plain logs"
leaks=$(find /etc/d4 /var/lib/d4 -type f -perm /o=r ! -name '*.crt')
[ -z "$leaks" ] || fail "world-readable: $leaks"
if grep -l $'\e\\[' "$WORK"/logs/*.log; then fail "ANSI escapes in the logs above"; fi

# ---------------------------------------------------------------------------------------
# 5. Stop, remove, purge.

say "SIGTERM, in reverse start order (deadline 10 s each; the units allow 30)"
for ((i = ${#STARTED[@]} - 1; i >= 0; i--)); do
    u=${STARTED[$i]}
    pid=${PID[$u]}
    t0=$(date +%s.%N)
    kill -TERM "$pid"
    set +e
    wait "$pid"
    status=$?
    set -e
    unset "PID[$u]"
    took=$(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN { print a - b }')
    printf '%-26s exit %s after %.2f s\n' "$u" "$status" "$took"
    [ "$status" = 0 ] || fail "$u exited with status $status on SIGTERM"
    awk -v t="$took" 'BEGIN { exit !(t <= 10.5) }' || fail "$u took $took s to stop"
done

say "reinstall (the upgrade path): edited configuration and its permissions stay"
DEBIAN_FRONTEND=noninteractive apt-get install -y --reinstall -o Dpkg::Options::=--force-confold \
    "$WORK"/deb/*.deb >"$WORK/reinstall.log" 2>&1 || { cat "$WORK/reinstall.log"; fail "apt-get install --reinstall"; }
grep -q "^server_port = $P_D4" /etc/d4/server.conf || fail "the reinstall replaced the edited server.conf"
grep -q "^port $P_META" /etc/d4/kv/meta.conf || fail "the reinstall replaced the edited kv/meta.conf"
expect_stat /etc/d4/server.conf "root:d4 640"
expect_stat /etc/d4/analyzer.conf "root:d4 640"
expect_stat /var/lib/d4/gen_cert/server.key "d4:d4 600"

say "apt-get remove: configuration stays"
DEBIAN_FRONTEND=noninteractive apt-get remove -y "${PACKAGES[@]}" >"$WORK/remove.log" 2>&1 || { cat "$WORK/remove.log"; fail "apt-get remove"; }
for b in d4-server d4-kv d4-web pdns-ingestion d4-client d4-queues; do
    [ ! -e "/usr/bin/$b" ] || fail "/usr/bin/$b is still there after remove"
done
[ ! -e "$SYSTEMD_DIR/d4-server.service" ] || fail "d4-server.service is still there after remove"
grep -q "^server_port = $P_D4" /etc/d4/server.conf || fail "/etc/d4/server.conf did not survive the remove"
[ -f /etc/d4/analyzer.conf ] && [ -f /etc/d4/kv/meta.conf ] || fail "/etc/d4 did not survive the remove"
[ -d /var/lib/d4/kv/meta ] || fail "the stores did not survive the remove"

say "apt-get purge: /etc/d4 and /var/lib/d4 go"
DEBIAN_FRONTEND=noninteractive apt-get purge -y "${PACKAGES[@]}" >"$WORK/purge.log" 2>&1 || { cat "$WORK/purge.log"; fail "apt-get purge"; }
INSTALLED=0
[ ! -e /etc/d4 ] || fail "/etc/d4 is still there after purge: $(find /etc/d4)"
[ ! -e /var/lib/d4 ] || fail "/var/lib/d4 is still there after purge: $(find /var/lib/d4 | head)"
links=$(find /etc/systemd/system /var/lib/systemd/deb-systemd-helper-enabled \( -name 'd4*' -o -name 'pdns*' \) 2>/dev/null)
[ -z "$links" ] || fail "unit links left after purge: $links"
for p in "${PACKAGES[@]}"; do
    if dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null | grep -q '^.[ic]'; then fail "$p still known to dpkg"; fi
done
