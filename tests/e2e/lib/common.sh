# shellcheck shell=bash
# tests/e2e/lib/common.sh — what every e2e helper shares: logging, failing loudly, the one state
# directory, the registry of processes this run started (and their teardown), free loopback ports.
#
# Sourced by tests/e2e/run.sh; never executed on its own. Everything here assumes `set -euo pipefail`.

# The python that sees Debian's python3-* packages (aiosmtpd); pyenv's python3 first on PATH does not.
E2E_PY=/usr/bin/python3

e2e_log() { printf '[e2e %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# Fail the run with a message a person can act on. The EXIT trap tears the stack down.
# Inside a check that must fail (e2e_check_fails) the message is the expected reason, not a FAIL.
e2e_die() {
    local tag=FAIL
    [ "${E2E_EXPECTING_FAILURE:-0}" = 1 ] && tag="failed as expected"
    printf '[e2e %s] %s: %s\n' "$(date -u +%H:%M:%S)" "$tag" "$*" >&2
    exit 1
}

# A check that must hold; `e2e_check "what should be true" cmd args...`.
e2e_check() {
    local what=$1
    shift
    if "$@"; then
        e2e_log "ok: $what"
    else
        e2e_die "$what (command: $*)"
    fi
}

# Runs a function that ends its shell on failure (e2e_die) in a subshell, so a check that must fail
# can observe the failure instead of ending the run.
e2e_subshell() { ("$@"); }

# A tool the run needs; a missing one fails the run and names the Debian package to install.
e2e_require() {
    local cmd=$1 pkg=$2
    command -v "$cmd" >/dev/null 2>&1 || [ -x "$cmd" ] \
        || e2e_die "'$cmd' not found: install the Debian package '$pkg' (apt-get install -y $pkg)"
}

# Creates the one directory holding every config, socket, log, database and maildir of this run.
# 0755 because the services drop privileges (postfix, dovecot, dovenull, uid 5000) and must reach
# their own subdirectories; the secrets the product writes sit in their own 0700 directories.
e2e_make_state_dir() {
    E2E_DIR=$(mktemp -d "${TMPDIR:-/tmp}/smime-e2e.XXXXXX")
    chmod 0755 "$E2E_DIR"
    mkdir -p "$E2E_DIR/log"
    : >"$E2E_DIR/pids"
    export E2E_DIR
}

# The kernel's start time of PID (field 22 of /proc/PID/stat, after the parenthesised command
# name, which may itself contain spaces). PID plus start time names one process for good, so
# teardown never signals a recycled PID.
e2e_pid_start_time() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    # After "comm)", field 3 (state) is the first word; the start time is field 22.
    local fields
    read -r -a fields <<<"$stat"
    printf '%s' "${fields[19]}"
}

# Records a process this run started, so teardown stops exactly it (by PID, never by name).
# LOG (optional) is shown if the process is already gone.
e2e_register_pid() {
    local name=$1 pid=$2 log=${3:-} start
    if ! start=$(e2e_pid_start_time "$pid"); then
        [ -z "$log" ] || tail -n 20 "$log" >&2
        e2e_die "$name (pid $pid) exited right after starting${log:+ (log: $log)}"
    fi
    printf '%s %s %s\n' "$pid" "$start" "$name" >>"$E2E_DIR/pids"
}

# Stops one registered process: TERM, wait up to ~10 s for it to exit, then KILL. Works for
# processes that are not our children (the daemonized Postfix and Dovecot masters).
e2e_stop_pid() {
    local pid=$1 start=$2 name=$3
    [ "$(e2e_pid_start_time "$pid" || true)" = "$start" ] || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    e2e_await_exit "$pid" "$start" "$name"
}

# Waits up to ~10 s for a process (PID and start time) to be gone; then KILLs it.
e2e_await_exit() {
    local pid=$1 start=$2 name=$3
    for _ in $(seq 1 100); do
        [ "$(e2e_pid_start_time "$pid" || true)" = "$start" ] || return 0
        sleep 0.1
    done
    e2e_log "$name (pid $pid) ignored SIGTERM for 10 s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
}

# Stops every registered process: SIGTERM to all, newest first (clients before the servers they
# talk to), then waits for each, so the masters' own shutdowns (seconds each) overlap.
e2e_stop_all() {
    [ -n "${E2E_DIR:-}" ] && [ -f "$E2E_DIR/pids" ] || return 0
    local pid start name
    local -a live=()
    while read -r pid start name; do
        [ -n "$pid" ] || continue
        [ "$(e2e_pid_start_time "$pid" || true)" = "$start" ] || continue
        kill -TERM "$pid" 2>/dev/null || continue
        live+=("$pid $start $name")
    done < <(tac "$E2E_DIR/pids")
    local entry
    for entry in "${live[@]}"; do
        # shellcheck disable=SC2086 # "pid start name" split into three arguments on purpose
        e2e_await_exit $entry
    done
    : >"$E2E_DIR/pids"
}

# PIDs of live processes whose command line names the state directory: after teardown there must
# be none (a process that escaped the registry). Reported, never killed by this search.
e2e_leftover_pids() {
    local d pid
    for d in /proc/[0-9]*; do
        pid=${d#/proc/}
        [ "$pid" = "$$" ] && continue
        # The process may vanish between the glob and the read; the braces silence that too.
        if { tr '\0' ' ' <"$d/cmdline"; } 2>/dev/null | grep -qF -- "$E2E_DIR"; then
            printf '%s ' "$pid"
        fi
    done
}

# Starts a detached watchdog that stops every registered process if this shell dies without
# running its EXIT trap (SIGKILL, a lost terminal), so no server outlives the run.
e2e_start_watchdog() {
    setsid bash "$E2E_LIB/watchdog.sh" "$$" "$(e2e_pid_start_time "$$")" "$E2E_DIR" </dev/null >/dev/null 2>&1 &
    e2e_register_pid watchdog "$!"
}

# Free TCP ports on 127.0.0.1, chosen at run time: bind port 0 for each, read the number, release
# all at once (holding them together guarantees distinct numbers). A service binding one later can
# in principle lose a race against another program; start-up then fails loudly, never silently.
e2e_free_ports() {
    local n=$1
    "$E2E_PY" - "$n" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks:
    s.close()
EOF
}

# Waits until something accepts TCP connections on 127.0.0.1:PORT; fails naming the log to read.
# With PID, fails at once when that process has exited.
e2e_wait_port() {
    local port=$1 what=$2 log=$3 pid=${4:-}
    for _ in $(seq 1 150); do
        if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
            tail -n 20 "$log" >&2 || true
            e2e_die "$what exited before listening on 127.0.0.1:$port (log: $log)"
        fi
        if "$E2E_PY" -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.5).close()' "$port" 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    e2e_log "last lines of $log:"
    tail -n 30 "$log" >&2 || true
    e2e_die "$what did not listen on 127.0.0.1:$port within 15 s (log: $log)"
}

# Waits for a file to exist (a PID file a daemon writes after forking).
e2e_wait_file() {
    local file=$1 what=$2
    for _ in $(seq 1 150); do
        [ -s "$file" ] && return 0
        sleep 0.1
    done
    e2e_die "$what did not write $file within 15 s"
}

# Milliseconds since the epoch, for the per-scenario timings in the summary.
e2e_now_ms() { date +%s%3N; }
