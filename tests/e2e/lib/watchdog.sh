# shellcheck shell=bash
# tests/e2e/lib/watchdog.sh — stops the e2e run's servers if the run itself dies without its EXIT
# trap (SIGKILL, a closed terminal). Started detached by e2e_start_watchdog; arguments: the run's
# PID, that PID's start time (so a recycled PID is not mistaken for the run), the state directory.
# Stops processes exactly as the run's own teardown does: by PID and start time from $DIR/pids.
set -uo pipefail
run_pid=$1 run_start=$2 E2E_DIR=$3
E2E_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=common.sh
. "$E2E_LIB/common.sh"

while [ "$(e2e_pid_start_time "$run_pid" || true)" = "$run_start" ]; do
    sleep 1
done
# The run is gone. If it tore down normally the registry is empty (or removed with the directory);
# otherwise stop what it left, skipping this watchdog's own line.
[ -f "$E2E_DIR/pids" ] || exit 0
while read -r pid start name; do
    if [ -z "$pid" ] || [ "$pid" = "$$" ]; then continue; fi
    e2e_stop_pid "$pid" "$start" "$name"
done < <(tac "$E2E_DIR/pids")
