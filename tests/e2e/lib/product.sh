# shellcheck shell=bash disable=SC2153 # the ports are set and exported by run.sh
# tests/e2e/lib/product.sh — drives the real smime-provisioner binary for the scenarios: builds it,
# starts the bundled AutoDNS simulator as its own process on 127.0.0.1 (so the run can count orders
# at GET /_simulator/orders and trust the simulator's root CA from its state directory, never from a
# bundle), writes the product's config file, starts and stops the daemon by PID, reads `status`.
#
# Config keys used are documented in config.example.toml; every file written here is checked with
# `smime-provisioner check-config` before use, so a renamed key fails the run with the product's own
# message instead of a silent default.

E2E_SIM_USER=e2e-reseller
# PostfixAdmin runs its hook as the web server's user; the run gives that role to group nogroup
# (and user nobody, in scenarios.sh). The spool is writable for this group.
E2E_HOOK_GROUP=nogroup

# Builds the binary once (debug: CI's `cargo test` has already compiled most of it). E2E_BIN may
# point at a prebuilt binary instead.
e2e_product_build() {
    if [ -n "${E2E_BIN:-}" ]; then
        [ -x "$E2E_BIN" ] || e2e_die "E2E_BIN=$E2E_BIN is not an executable"
        return 0
    fi
    command -v cargo >/dev/null 2>&1 || e2e_die "cargo not found: install Rust (rustup) to build smime-provisioner"
    e2e_log "building smime-provisioner (cargo build, debug)"
    (cd "$E2E_REPO" && cargo build --quiet --bin smime-provisioner) >"$E2E_DIR/log/cargo-build.log" 2>&1 \
        || { tail -n 30 "$E2E_DIR/log/cargo-build.log" >&2; e2e_die "cargo build failed (log: $E2E_DIR/log/cargo-build.log)"; }
    E2E_BIN=$E2E_REPO/target/debug/smime-provisioner
    export E2E_BIN
}

# Starts `smime-provisioner simulator` on 127.0.0.1 port 0 with its state (CA, orders) under
# $E2E_DIR/simulator, and learns its port from the `json_url=` line it prints once it listens.
# Issuance is quick so a scenario waits seconds, not minutes.
e2e_simulator_start() {
    local sim=$E2E_DIR/simulator out=$E2E_DIR/log/simulator.out log=$E2E_DIR/log/simulator.log
    mkdir -p "$sim/state" && chmod 0700 "$sim" "$sim/state"
    (umask 077 && openssl rand -hex 16 >"$sim/password")
    "$E2E_BIN" simulator --listen 127.0.0.1:0 --state-dir "$sim/state" \
        --user "$E2E_SIM_USER" --password-file "$sim/password" --issuance-delay-ms 300 \
        </dev/null >"$out" 2>>"$log" &
    E2E_SIM_PID=$!
    e2e_register_pid simulator "$E2E_SIM_PID" "$log"
    local url=""
    for _ in $(seq 1 150); do
        url=$(sed -n 's/^json_url=//p' "$out")
        [ -n "$url" ] && break
        kill -0 "$E2E_SIM_PID" 2>/dev/null || { tail -n 20 "$log" >&2; e2e_die "the simulator exited at start (log: $log)"; }
        sleep 0.1
    done
    [ -n "$url" ] || e2e_die "the simulator printed no json_url= line within 15 s (log: $log)"
    E2E_SIM_PORT=$(printf '%s' "$url" | sed -n 's|^http://127\.0\.0\.1:\([0-9]*\)/.*|\1|p')
    [ -n "$E2E_SIM_PORT" ] || e2e_die "the simulator listens at $url, not on 127.0.0.1"
    export E2E_SIM_PORT
    E2E_SIM_ROOT=$sim/state/ca/root.pem
    e2e_wait_file "$E2E_SIM_ROOT" "the simulator's root CA"
    e2e_log "simulator pid $E2E_SIM_PID at $url (root CA $E2E_SIM_ROOT)"
    e2e_check "the simulator listens on 127.0.0.1 only" e2e_listeners_loopback_only
}

# Orders the simulator received (every CertificateCreate), optionally only those for ADDRESS.
e2e_sim_order_count() {
    "$E2E_PY" "$E2E_LIB/sim.py" orders --port "$E2E_SIM_PORT" ${1:+--name "$1"}
}

# Writes $E2E_DIR/product/config-STATE.toml for one daemon start and makes it the current config
# ($E2E_CONFIG). Knobs (environment of the caller):
#   CFG_KEY_TYPE (ec-p256), CFG_PROFILE (modern), CFG_WIRE (json), CFG_MAILDIR (true),
#   CFG_LDIF (false), CFG_REMOVAL (keep), CFG_PASSWORD_CHANNEL (separate-mail),
#   CFG_DOMAIN (the one allowed domain, $E2E_MAIL_DOMAIN), CFG_STATE (state directory name, "main":
#   a scenario with its own name is a separate installation with its own store).
e2e_write_config() {
    local p=$E2E_DIR/product
    local state=$p/state-${CFG_STATE:-main}
    E2E_SPOOL=$p/spool-${CFG_STATE:-main}
    mkdir -p "$state" "$p/passwords" "$E2E_SPOOL"
    chmod 0700 "$state" "$p/passwords"
    # The hook's spool is writable for the unprivileged hook user's group (sources.spool.dir, as
    # README "Hook usage" says); setgid so requests keep that group.
    chgrp "$E2E_HOOK_GROUP" "$E2E_SPOOL"
    chmod 2770 "$E2E_SPOOL"
    local endpoint
    case ${CFG_WIRE:-json} in
        json) endpoint="http://127.0.0.1:$E2E_SIM_PORT/v1" ;;
        xml) endpoint="http://127.0.0.1:$E2E_SIM_PORT/" ;;
        *) e2e_die "CFG_WIRE must be json or xml" ;;
    esac
    E2E_CONFIG=$p/config-${CFG_STATE:-main}.toml
    cat >"$E2E_CONFIG" <<EOF
# Written by tests/e2e/lib/product.sh for one e2e run; keys as in config.example.toml.
[state]
dir = "$state"

[autodns]
endpoint = "$endpoint"
wire = "${CFG_WIRE:-json}"
user = "$E2E_SIM_USER"
password_file = "$E2E_DIR/simulator/password"
context = 4
requests_per_second = 3.0
timeout_secs = 10
daily_order_budget = 20
# The scenarios wait for issuance; the default minute between poll reads would dominate the run.
poll_interval_secs = 1

[autodns.contact]
first = "Postmaster"
last = "E2E"
email = "postmaster@$E2E_MAIL_DOMAIN"
phone = "+49-941-1234560"
title = "IT"
organization = "E2E Test"
address = "Example Street 1"
postal_code = "93047"
city = "Regensburg"
country = "DE"
state = "Bayern"

[keys]
type = "${CFG_KEY_TYPE:-ec-p256}"
pkcs12_profile = "${CFG_PROFILE:-modern}"

[domains]
allow = ["${CFG_DOMAIN:-$E2E_MAIL_DOMAIN}"]

[sources]
max_removal_share = 0.10
rescan_interval_secs = 2

[sources.maildir]
enabled = ${CFG_MAILDIR:-true}
root = "$E2E_MAIL_ROOT"
layout = "{domain}/{local}"

[sources.ldif]
enabled = ${CFG_LDIF:-false}
path = "$E2E_DIR/ldap/export.ldif"
attributes = ["mail"]
object_class = "inetOrgPerson"
key = "entryUUID"

[sources.spool]
dir = "$E2E_SPOOL"

[delivery]
transport = "${CFG_TRANSPORT:-smtp}"
from = "Certificate Service <pki@$E2E_MAIL_DOMAIN>"

[delivery.smtp]
host = "127.0.0.1"
port = $E2E_SMTP_PORT
# Loopback only: the validator refuses "plain" to any other host.
security = "plain"
timeout_secs = 10

[delivery.sendmail]
command = "${CFG_SENDMAIL:-/usr/sbin/sendmail}"

[delivery.password]
channel = "${CFG_PASSWORD_CHANNEL:-separate-mail}"
delay_secs = 0
dir = "$p/passwords"

[removal]
policy = "${CFG_REMOVAL:-keep}"

[pipeline]
concurrency = 4
backoff_base_secs = 1
backoff_max_secs = 5
max_attempts = 4
EOF
    "$E2E_BIN" check-config "$E2E_CONFIG" >>"$E2E_DIR/log/check-config.log" 2>&1 \
        || { cat "$E2E_DIR/log/check-config.log" >&2; e2e_die "the e2e config does not validate (see above)"; }
}

e2e_product() { "$E2E_BIN" --config "$E2E_CONFIG" "$@"; }

# Starts `smime-provisioner run` in the background, logging to $E2E_DIR/log/daemon-N.log.
E2E_DAEMON_STARTS=0
e2e_daemon_start() {
    E2E_DAEMON_STARTS=$((E2E_DAEMON_STARTS + 1))
    E2E_DAEMON_LOG=$E2E_DIR/log/daemon-$E2E_DAEMON_STARTS.log
    # The binary itself, not through a shell function: $! must be the daemon, not a subshell
    # that would die on SIGTERM and leave the daemon running.
    "$E2E_BIN" --config "$E2E_CONFIG" run </dev/null >>"$E2E_DAEMON_LOG" 2>&1 &
    E2E_DAEMON_PID=$!
    e2e_register_pid daemon "$E2E_DAEMON_PID" "$E2E_DAEMON_LOG"
    e2e_log "smime-provisioner run: pid $E2E_DAEMON_PID (log $E2E_DAEMON_LOG)"
}

# Stops the daemon with SIGTERM and checks it shut down gracefully (exit 0) within 30 s.
e2e_daemon_stop() {
    [ -n "${E2E_DAEMON_PID:-}" ] || return 0
    kill -TERM "$E2E_DAEMON_PID" 2>/dev/null || e2e_die "the daemon (pid $E2E_DAEMON_PID) was already gone (log: $E2E_DAEMON_LOG)"
    # Our own child: once it has exited it is a zombie (state Z) or already reaped by bash, which
    # keeps its status for `wait` either way.
    local state=""
    for _ in $(seq 1 300); do
        state=$(sed 's/^.*) //' "/proc/$E2E_DAEMON_PID/stat" 2>/dev/null | cut -d' ' -f1) || state=gone
        [ -n "$state" ] || state=gone
        case $state in Z | gone) break ;; esac
        sleep 0.1
    done
    if [ "$state" != Z ] && [ "$state" != gone ]; then
        kill -KILL "$E2E_DAEMON_PID" 2>/dev/null || true
        wait "$E2E_DAEMON_PID" 2>/dev/null || true
        e2e_die "the daemon did not stop within 30 s of SIGTERM (log: $E2E_DAEMON_LOG)"
    fi
    local rc=0
    wait "$E2E_DAEMON_PID" || rc=$?
    E2E_DAEMON_PID=
    [ "$rc" -eq 0 ] || { tail -n 20 "$E2E_DAEMON_LOG" >&2; e2e_die "the daemon exited with $rc on SIGTERM (log: $E2E_DAEMON_LOG)"; }
}

# Fails unless the daemon is still running (it must not die on any input).
e2e_daemon_alive() {
    kill -0 "$E2E_DAEMON_PID" 2>/dev/null \
        || { tail -n 20 "$E2E_DAEMON_LOG" >&2; e2e_die "the daemon died (log: $E2E_DAEMON_LOG)"; }
}

# Waits (up to 90 s) until the IMAP INBOX of ADDRESS holds MIN messages, fetching them into DIR;
# fails at once if the daemon dies meanwhile.
e2e_wait_for_mail() {
    local address=$1 dir=$2 min=$3
    for _ in $(seq 1 90); do
        e2e_daemon_alive
        if "$E2E_PY" "$E2E_LIB/mail.py" fetch --port "$E2E_IMAP_PORT" --user "$address" \
            --password-file "$E2E_DIR/logins/$address" --out "$dir" --min "$min" --timeout 0 \
            >/dev/null 2>"$dir/fetch.err"; then
            return 0
        fi
        sleep 1
    done
    cat "$dir/fetch.err" >&2
    tail -n 20 "$E2E_DAEMON_LOG" >&2
    e2e_die "no bundle and password mail for $address within 90 s (daemon log: $E2E_DAEMON_LOG)"
}

# From the fetched mails in DIR, writes DIR/bundle.p12 (the one application/pkcs12 attachment) and
# DIR/password (from the mail without attachment). Fails if the password appears in the bundle mail.
# Mails the run sent itself (subject "e2e: ...") are skipped.
e2e_take_delivery() {
    local address=$1 dir=$2
    local eml bundle_mail="" password_mail=""
    for eml in "$dir"/*.eml; do
        # The run's own mails (the first mail that creates a maildir, the self-tests' mails) are
        # not the product's; E2E_TAKE_OWN=1 lets the delivery self-test take its own.
        if [ "${E2E_TAKE_OWN:-0}" != 1 ]; then
            case $("$E2E_PY" "$E2E_LIB/mail.py" subject --eml "$eml") in e2e:*) continue ;; esac
        fi
        if "$E2E_PY" "$E2E_LIB/mail.py" attachment --eml "$eml" --out "$dir/bundle.p12" \
            --content-type application/pkcs12 >"$dir/attachment.name" 2>/dev/null; then
            [ -z "$bundle_mail" ] || e2e_die "$address received two bundle mails"
            bundle_mail=$eml
            mv -f "$dir/attachment.name" "$dir/bundle.name"
        else
            [ -z "$password_mail" ] || e2e_die "$address received two mails without a bundle"
            password_mail=$eml
        fi
    done
    [ -n "$bundle_mail" ] || e2e_die "no mail for $address carries an application/pkcs12 attachment"
    [ -n "$password_mail" ] || e2e_die "no separate password mail reached $address"
    e2e_check "the bundle is attached as $address.p12" test "$(cat "$dir/bundle.name")" = "$address.p12"
    local password
    password=$("$E2E_PY" "$E2E_LIB/mail.py" body --eml "$password_mail" | sed -n 's/^ *Password: *//p' | head -n 1)
    [ -n "$password" ] || e2e_die "the password mail for $address has no 'Password:' line ($password_mail)"
    (umask 077 && printf '%s' "$password" >"$dir/password")
    # The invariant the separate channel exists for: the bundle mail never carries the password,
    # neither in its raw bytes nor in any decoded part.
    if grep -qF -- "$password" "$bundle_mail" \
        || "$E2E_PY" "$E2E_LIB/mail.py" body --all --eml "$bundle_mail" | grep -qF -- "$password"; then
        e2e_die "the bundle mail for $address contains the PKCS#12 password"
    fi
    e2e_log "ok: $address got the bundle and, separately, its password"
}

# Field NAME of ADDRESS's row in `status --json` (e.g. stage, present, failed), or an empty line.
e2e_status_field() {
    e2e_product status --json 2>>"$E2E_DIR/log/status.log" | "$E2E_PY" "$E2E_LIB/status.py" field "$1" "$2"
}

# How many mailboxes the store of installation STATE (see CFG_STATE) knows (`status --json`).
e2e_status_count_of() {
    "$E2E_BIN" --config "$E2E_DIR/product/config-$1.toml" status --json 2>>"$E2E_DIR/log/status.log" \
        | "$E2E_PY" "$E2E_LIB/status.py" count
}

# Waits (up to 60 s) until `status --json` shows FIELD = VALUE for ADDRESS.
e2e_wait_field() {
    local address=$1 field=$2 want=$3 got=""
    for _ in $(seq 1 120); do
        got=$(e2e_status_field "$address" "$field") || true
        if [ "$got" = "$want" ]; then
            e2e_log "ok: status shows $field = $want for $address"
            return 0
        fi
        sleep 0.5
    done
    e2e_die "status shows $field = '$got' for $address, not '$want', after 60 s (daemon log: $E2E_DAEMON_LOG)"
}

# Fails unless `status --json` shows FIELD = VALUE for ADDRESS now.
e2e_expect_field() {
    local address=$1 field=$2 want=$3 got
    got=$(e2e_status_field "$address" "$field") || e2e_die "status --json failed (log: $E2E_DIR/log/status.log)"
    [ "$got" = "$want" ] || e2e_die "status shows $field = '$got' for $address, expected '$want'"
}

# Waits (up to 60 s) until the current daemon log holds COUNT (default 1) lines matching the
# extended regex PATTERN.
e2e_wait_log() {
    local what=$1 pattern=$2 count=${3:-1}
    for _ in $(seq 1 120); do
        if [ "$(grep -Ec -- "$pattern" "$E2E_DAEMON_LOG" || true)" -ge "$count" ]; then
            e2e_log "ok: $what"
            return 0
        fi
        sleep 0.5
    done
    e2e_die "$what: fewer than $count log line(s) matching /$pattern/ within 60 s (daemon log: $E2E_DAEMON_LOG)"
}

# CPU time (user + system, in clock ticks) the daemon has used so far.
e2e_daemon_cpu_ticks() {
    local stat fields
    stat=$(cat "/proc/$E2E_DAEMON_PID/stat") || e2e_die "the daemon (pid $E2E_DAEMON_PID) is gone"
    read -r -a fields <<<"${stat##*) }"
    # After "comm)", utime and stime are the 12th and 13th fields (stat fields 14 and 15).
    printf '%s' $((fields[11] + fields[12]))
}

# Measures the share of one core the daemon uses over 3 s with nothing to do, for the summary.
# A figure, not an assertion: an idle daemon should be near 0 %.
e2e_measure_idle_cpu() {
    local a b hz
    hz=$(getconf CLK_TCK)
    a=$(e2e_daemon_cpu_ticks)
    sleep 3
    b=$(e2e_daemon_cpu_ticks)
    E2E_IDLE_CPU="$(((b - a) * 100 / (3 * hz))) % of one core over 3 s"
    e2e_log "idle daemon CPU: $E2E_IDLE_CPU"
}
