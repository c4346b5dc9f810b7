#!/usr/bin/env bash
# tests/e2e/run.sh — the end-to-end proof on a real mail stack.
#
# On a fresh Debian machine (as root) it installs what is missing, starts Postfix, Dovecot and
# OpenLDAP slapd on 127.0.0.1 only, on ports chosen at run time, without systemd, with every
# config, log, database and maildir in one temporary directory (nothing under /etc is edited),
# proves the stack itself, runs the scenarios, prints a summary, stops every process it started by
# its PID, and exits non-zero on any failure.
#
# Usage: tests/e2e/run.sh [--keep] [--stack-only]
#   --keep         leave the state directory (configs, logs, maildirs) in place for inspection
#   --stack-only   prove the mail stack and the client checks only; no product scenarios
# Environment: E2E_KEEP=1 is the same as --keep; E2E_BIN=PATH uses a prebuilt smime-provisioner
# instead of `cargo build`; TMPDIR chooses where the state directory goes.
set -euo pipefail

E2E_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")/lib" && pwd)
E2E_REPO=$(cd "$E2E_LIB/../../.." && pwd)
export E2E_LIB E2E_REPO

# shellcheck source=lib/common.sh
. "$E2E_LIB/common.sh"
# shellcheck source=lib/install.sh
. "$E2E_LIB/install.sh"
# shellcheck source=lib/postfix.sh
. "$E2E_LIB/postfix.sh"
# shellcheck source=lib/dovecot.sh
. "$E2E_LIB/dovecot.sh"
# shellcheck source=lib/slapd.sh
. "$E2E_LIB/slapd.sh"
# shellcheck source=lib/stack_selftest.sh
. "$E2E_LIB/stack_selftest.sh"
# shellcheck source=lib/clients.sh
. "$E2E_LIB/clients.sh"
# shellcheck source=lib/client_selftest.sh
. "$E2E_LIB/client_selftest.sh"
# shellcheck source=lib/product.sh
. "$E2E_LIB/product.sh"
# shellcheck source=lib/scenarios.sh
. "$E2E_LIB/scenarios.sh"

E2E_KEEP=${E2E_KEEP:-0}
E2E_STACK_ONLY=0
for arg in "$@"; do
    case $arg in
        --keep) E2E_KEEP=1 ;;
        --stack-only) E2E_STACK_ONLY=1 ;;
        -h | --help)
            sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "run.sh: unknown argument '$arg' (see --help)" >&2
            exit 2
            ;;
    esac
done

# Summary counters, filled in by the scenarios.
declare -A E2E_TIMINGS=()
E2E_SCENARIOS=()
E2E_MAILBOXES_SEEN=0
E2E_ORDERS_PLACED=0
E2E_BUNDLES_DELIVERED=0
E2E_IMPORTS_VERIFIED=0
E2E_SIGNATURES_VERIFIED=0
E2E_IDLE_CPU="not measured"

e2e_teardown() {
    local rc=$?
    trap - EXIT INT TERM
    e2e_stop_all
    local leftovers
    leftovers=$(e2e_leftover_pids)
    leftovers=${leftovers% }
    if [ -n "$leftovers" ]; then
        e2e_log "FAIL: processes of this run outlived teardown (not killed; PIDs: $leftovers)"
        ps -o pid,ppid,cmd -p "${leftovers// /,}" >&2 || true
        [ "$rc" -ne 0 ] || rc=1
    fi
    if [ "$rc" -ne 0 ]; then
        e2e_log "run failed (exit $rc); logs are in $E2E_DIR/log"
        E2E_KEEP=1
    fi
    if [ "$E2E_KEEP" = 1 ]; then
        e2e_log "state directory kept: $E2E_DIR"
    else
        rm -rf "$E2E_DIR"
    fi
    exit "$rc"
}

# Runs one scenario function and records how long it took.
e2e_scenario() {
    local name=$1 fn=$2 start
    e2e_log "=== scenario: $name"
    start=$(e2e_now_ms)
    "$fn"
    E2E_TIMINGS[$name]=$(($(e2e_now_ms) - start))
    E2E_SCENARIOS+=("$name")
}

e2e_summary() {
    local name ms
    printf '\n== smime-provisioner e2e summary ==\n'
    printf '%-34s %s\n' "mailboxes seen" "$E2E_MAILBOXES_SEEN"
    printf '%-34s %s\n' "orders placed" "$E2E_ORDERS_PLACED"
    printf '%-34s %s\n' "bundles delivered" "$E2E_BUNDLES_DELIVERED"
    printf '%-34s %s\n' "imports verified" "$E2E_IMPORTS_VERIFIED (NSS pk12util, gpgsm)"
    printf '%-34s %s\n' "signatures verified" "$E2E_SIGNATURES_VERIFIED (openssl, against the CA root)"
    printf '%-34s %s\n' "idle daemon CPU" "$E2E_IDLE_CPU"
    for name in "${E2E_SCENARIOS[@]}"; do
        ms=${E2E_TIMINGS[$name]}
        printf '%-34s %d.%03d s\n' "time: $name" $((ms / 1000)) $((ms % 1000))
    done
}

main() {
    local run_start
    run_start=$(e2e_now_ms)
    e2e_make_state_dir
    trap e2e_teardown EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    e2e_log "state directory: $E2E_DIR"
    [ "$(id -u)" -eq 0 ] || e2e_die "run as root: Postfix, Dovecot and slapd are started as root and drop privileges themselves"
    e2e_start_watchdog

    e2e_scenario "install" e2e_install_packages
    e2e_require_tools

    # Postfix, Dovecot and slapd take a port number, not port 0; the simulator binds port 0 itself.
    read -r E2E_SMTP_PORT E2E_IMAP_PORT E2E_LDAP_PORT <<<"$(e2e_free_ports 3)"
    export E2E_SMTP_PORT E2E_IMAP_PORT E2E_LDAP_PORT
    e2e_log "ports chosen for this run: SMTP $E2E_SMTP_PORT, IMAP $E2E_IMAP_PORT, LDAP $E2E_LDAP_PORT"
    E2E_MAIL_ROOT=$E2E_DIR/mail
    export E2E_MAIL_ROOT

    e2e_scenario "start stack" e2e_start_stack
    e2e_scenario "stack self-test" e2e_stack_selftest
    e2e_scenario "client self-test" e2e_client_selftest
    e2e_scenario "delivery self-test" e2e_delivery_selftest

    if [ "$E2E_STACK_ONLY" = 0 ]; then
        e2e_scenario "build and start simulator" e2e_start_product
        e2e_scenario "A maildir" e2e_scenario_maildir
        e2e_scenario "B LDAP" e2e_scenario_ldap
        e2e_scenario "C hook" e2e_scenario_hook
        e2e_scenario "D sendmail and renew" e2e_scenario_sendmail_renew
        e2e_count_results
    else
        e2e_log "--stack-only: the product scenarios were not run"
    fi

    e2e_summary
    local total=$(($(e2e_now_ms) - run_start))
    printf '%-34s %d.%03d s\n' "time: total" $((total / 1000)) $((total % 1000))
    e2e_log "all checks passed"
}

e2e_start_product() {
    e2e_product_build
    e2e_simulator_start
}

# The summary's product figures, from the product's own store and the simulator's order log.
e2e_count_results() {
    local main ldap
    main=$(e2e_status_count_of main) || e2e_die "status --json failed"
    ldap=$(e2e_status_count_of ldap) || e2e_die "status --json failed"
    E2E_MAILBOXES_SEEN=$((main + ldap))
    E2E_ORDERS_PLACED=$(e2e_sim_order_count) || e2e_die "cannot read the simulator's orders"
}

e2e_start_stack() {
    e2e_postfix_write_config
    e2e_dovecot_write_config
    e2e_slapd_write_config
    e2e_postfix_start
    e2e_dovecot_start
    e2e_slapd_start
}

main
