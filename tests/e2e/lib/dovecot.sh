# shellcheck shell=bash
# tests/e2e/lib/dovecot.sh — a Dovecot instance serving IMAP on 127.0.0.1:$E2E_IMAP_PORT only, over
# the same maildir tree Postfix writes ($E2E_MAIL_ROOT/{domain}/{local}), with its own base_dir,
# state and log under $E2E_DIR/dovecot. Users and passwords come from a passwd-file the run writes
# (re-read by Dovecot when it changes); every mailbox belongs to uid/gid 5000 (static userdb).
#
# Plain-text login without TLS is allowed because the listener is loopback-only and the run is a
# test; a production Dovecot would require TLS (doc.dovecot.org, "ssl" and "disable_plaintext_auth").

e2e_dovecot_write_config() {
    local dc=$E2E_DIR/dovecot
    mkdir -p "$dc/run" "$dc/state"
    : >"$dc/users"
    chmod 0640 "$dc/users"
    chgrp dovecot "$dc/users"
    cat >"$dc/dovecot.conf" <<EOF
# Written by tests/e2e/lib/dovecot.sh for one e2e run.
instance_name = smime-e2e-$$
base_dir = $dc/run
state_dir = $dc/state
log_path = $E2E_DIR/log/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = $E2E_VMAIL_UID
last_valid_uid = $E2E_VMAIL_UID
mail_location = maildir:$E2E_MAIL_ROOT/%d/%n
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $dc/users
}
userdb {
  driver = static
  args = uid=$E2E_VMAIL_UID gid=$E2E_VMAIL_UID home=$E2E_MAIL_ROOT/%d/%n
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $E2E_IMAP_PORT
  }
  inet_listener imaps {
    port = 0
  }
}
EOF
}

# Gives ADDRESS an IMAP login with PASSWORD.
e2e_dovecot_add_user() {
    local address=$1 password=$2
    printf '%s:{PLAIN}%s\n' "$address" "$password" >>"$E2E_DIR/dovecot/users"
}

e2e_dovecot_start() {
    local dc=$E2E_DIR/dovecot
    # A daemonized Dovecot keeps its caller's stdio open unless it is redirected.
    dovecot -c "$dc/dovecot.conf" </dev/null >>"$E2E_DIR/log/dovecot-start.log" 2>&1 \
        || { cat "$E2E_DIR/log/dovecot-start.log" >&2; e2e_die "dovecot failed to start"; }
    e2e_wait_file "$dc/run/master.pid" "dovecot master"
    local pid
    pid=$(tr -d ' \n' <"$dc/run/master.pid")
    e2e_register_pid dovecot-master "$pid"
    e2e_wait_port "$E2E_IMAP_PORT" dovecot "$E2E_DIR/log/dovecot.log"
    e2e_log "dovecot master pid $pid, IMAP on 127.0.0.1:$E2E_IMAP_PORT"
}
