# Shared helpers of the bench harnesses; every tests/bench/*/run.sh sources this file.
#
# The benches run on a small shared virtual machine: the hypervisor may steal CPU time and other
# jobs may share the cores. Neither shows in a throughput figure, so each run prints the host's
# state over its measured window and a WARNING line when the host was noisy, instead of letting
# a slow run pass for a regression:
#
#   host_begin          # after the build, before the first measurement
#   ...measurements...
#   host_end            # after the last one: steal, busy and load over the whole window
#
#   host_run cmd args   # one measurement, followed by its own steal and busy share
#
#   w=$(host_window)    # the same by hand, when the measurement is more than one command
#   ...one run...
#   host_window_report "$w"
#
# Env: HOST_STEAL_WARN (percent of CPU time, default 10) above which steal is flagged.

HOST_STEAL_WARN=${HOST_STEAL_WARN:-10}
HOST_CPUS=$(getconf _NPROCESSORS_ONLN)
HOST_TICK=$(getconf CLK_TCK)

# "total idle steal" clock ticks of all CPUs so far, from the aggregate line of /proc/stat
# (user nice system idle iowait irq softirq steal; guest time is already inside user).
host_counters() {
  awk '$1 == "cpu" { t = 0; for (i = 2; i <= 9; i++) t += $i; print t, $5 + $6, $9; exit }' /proc/stat
}

# host_window: a mark (counters and wall clock) to pass later to host_window_report or
# host_window_steal.
host_window() { echo "$(host_counters) $(date +%s.%N)"; }

# host_window_steal <mark>: steal as a percentage of all CPU time since the mark.
host_window_steal() {
  # shellcheck disable=SC2086  # the mark is a list of numbers
  set -- $1 $(host_counters)
  awk -v t0="$1" -v s0="$3" -v t1="$5" -v s1="$7" \
    'BEGIN { d = t1 - t0; printf "%.1f", (d > 0 ? 100 * (s1 - s0) / d : 0) }'
}

# host_window_report <mark>: "steal S% busy B% of N CPUs over W s" since the mark; busy is the
# share of CPU time spent running anything (this bench and every other process).
host_window_report() {
  # shellcheck disable=SC2086  # the mark is a list of numbers
  set -- $1 $(host_counters) "$(date +%s.%N)"
  awk -v t0="$1" -v i0="$2" -v s0="$3" -v w0="$4" -v t1="$5" -v i1="$6" -v s1="$7" -v w1="$8" \
    -v cpus="$HOST_CPUS" 'BEGIN {
      d = t1 - t0; if (d <= 0) d = 1
      printf "steal %.1f%% busy %.1f%% of %d CPUs over %.1fs", 100 * (s1 - s0) / d,
        100 * (d - (i1 - i0) - (s1 - s0)) / d, cpus, w1 - w0 }'
}

# host_steal_warning <percent> <what>: the WARNING line when steal is above HOST_STEAL_WARN.
host_steal_warning() {
  if awk -v s="$1" -v m="$HOST_STEAL_WARN" 'BEGIN { exit !(s > m) }'; then
    echo "WARNING: noisy host: the hypervisor stole $1% of the CPU time $2 (above $HOST_STEAL_WARN%);" \
      "throughput and CPU per unit of work are not comparable with a quiet run"
  fi
}

# host_run <command...>: runs one measurement, then prints the host's steal and busy share over
# it (and the WARNING line when steal was high); returns the command's status.
host_run() {
  local mark status=0
  mark=$(host_window)
  "$@" || status=$?
  echo "   host: $(host_window_report "$mark")"
  host_steal_warning "$(host_window_steal "$mark")" "during this measurement"
  return "$status"
}

# host_load: the 1, 5 and 15-minute load averages.
host_load() { cut -d' ' -f1-3 /proc/loadavg; }

# host_begin: prints the host's state before the measurements and starts the run's window.
host_begin() {
  HOST_MARK=$(host_window)
  local load1
  load1=$(cut -d' ' -f1 /proc/loadavg)
  echo "host at start: load average $(host_load) on $HOST_CPUS CPUs"
  if awk -v l="$load1" -v c="$HOST_CPUS" 'BEGIN { exit !(l > c) }'; then
    echo "WARNING: busy host: 1-minute load $load1 at start exceeds the $HOST_CPUS CPUs;" \
      "other jobs share the cores with this bench, compare only the columns of this run"
  fi
}

# host_end: prints steal and busy share over the whole run (since host_begin) and the load.
host_end() {
  echo "host over the run: $(host_window_report "$HOST_MARK"); load average at end $(host_load)"
  host_steal_warning "$(host_window_steal "$HOST_MARK")" "during the run"
}

# proc_cpu_ticks <pid>: user + system clock ticks a process (all its threads, live or exited)
# has used so far, from /proc/<pid>/stat.
proc_cpu_ticks() {
  # The command name (field 2) may hold spaces: count fields after its closing parenthesis.
  sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}

# per_unit_us <ticks> <units>: microseconds of CPU per unit of work for a tick delta.
per_unit_us() {
  awk -v t="$1" -v n="$2" -v hz="$HOST_TICK" 'BEGIN { printf "%.1f", (n > 0 ? t * 1e6 / hz / n : 0) }'
}

# d4_server_conf <data dir> <D4 port> <cert dir> <STREAM endpoint line> <META port>: a bench
# server.conf (shared secret, TLS with <cert dir>/server.{crt,key}); STREAM at the given
# endpoint line (`port = N` or `cluster = host:port,...`), METADATA/SERV/ANALYZER/CACHE on db
# 0-3 of the META port.
d4_server_conf() {
  cat <<CONF
[Save_Directories]
use_default_save_directory = no
save_directory = $1

[D4_Server]
server_port = $2
server_host = 127.0.0.1
server_mode = shared-secret
default_hmac_key = private key to change
analyzer_queues_max_size = 100000000
tls_cert_file = $3/server.crt
tls_key_file = $3/server.key

[Redis_STREAM]
host = 127.0.0.1
$4
db = 0
CONF
  local role db=0
  for role in METADATA SERV ANALYZER CACHE; do
    printf '\n[Redis_%s]\nhost = 127.0.0.1\nport = %s\ndb = %s\n' "$role" "$5" "$db"
    db=$((db + 1))
  done
}
