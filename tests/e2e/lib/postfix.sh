# shellcheck shell=bash
# tests/e2e/lib/postfix.sh — a Postfix instance with its own config and queue directory under
# $E2E_DIR/postfix, listening for SMTP on 127.0.0.1:$E2E_SMTP_PORT only, delivering the virtual
# domain example.test into the maildir tree $E2E_MAIL_ROOT/{domain}/{local}/ (Postfix virtual(8)
# delivery, the layout PostfixAdmin and Dovecot use), and bouncing everything else locally
# (no mail leaves the machine).
#
# Mailboxes live in an SQLite table shaped like PostfixAdmin's `mailbox` table and are looked up
# per query (sqlite_table(5)), as PostfixAdmin's SQL maps are: a mailbox added while Postfix runs is
# known to every smtpd at once, including one serving an SMTP session opened before the change.
# (With hash: tables a running smtpd session keeps the table it opened; a client that keeps SMTP
# connections open, as a pooling mailer does, would get "550 User unknown" for a new mailbox.)
#
# Nothing under /etc is edited: `postfix -c DIR` selects the config directory; Debian's
# /etc/postfix only supplies read-only metadata (postfix-files, dynamicmaps.cf).

E2E_VMAIL_UID=5000 # owner of the maildir tree; Dovecot's static userdb uses the same numeric ids
E2E_MAIL_DOMAIN=example.test
# A second virtual domain for the LDAP scenario, so its mailboxes never meet the maildir source
# (which is told to allow example.test only).
E2E_DIR_DOMAIN=dir.example.test

e2e_postfix_write_config() {
    local pf=$E2E_DIR/postfix
    mkdir -p "$pf/conf" "$pf/queue" "$pf/data"
    chown postfix "$pf/data"
    mkdir -p "$E2E_MAIL_ROOT"
    chown "$E2E_VMAIL_UID:$E2E_VMAIL_UID" "$E2E_MAIL_ROOT"
    chmod 0770 "$E2E_MAIL_ROOT"

    # Parameters: postconf(5). Recipients are validated against virtual_mailbox_maps, so an
    # unknown user gets 550 at RCPT time, as on a production server.
    cat >"$pf/conf/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $pf/queue
data_directory = $pf/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.e2e.test
mydomain = e2e.test
myorigin = \$myhostname
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
alias_maps =
alias_database =
local_recipient_maps =
biff = no
virtual_mailbox_domains = $E2E_MAIL_DOMAIN, $E2E_DIR_DOMAIN
virtual_mailbox_base = $E2E_MAIL_ROOT
virtual_mailbox_maps = sqlite:$pf/vmailbox.cf
virtual_uid_maps = static:$E2E_VMAIL_UID
virtual_gid_maps = static:$E2E_VMAIL_UID
virtual_minimum_uid = 100
# Nothing may leave the machine: any non-local destination bounces at once.
default_transport = error:the e2e stack delivers to example.test only
relay_transport = error:the e2e stack delivers to example.test only
# maillog_file(5): only paths under maillog_file_prefixes are allowed; the run logs into its own dir.
maillog_file_prefixes = $E2E_DIR/log
maillog_file = $E2E_DIR/log/postfix.log
smtputf8_enable = no
EOF

    # master(5): nothing chrooted (the chroot would need a copy of /etc files); SMTP only on the
    # port chosen for this run.
    cat >"$pf/conf/master.cf" <<EOF
127.0.0.1:$E2E_SMTP_PORT inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
    cat >"$pf/vmailbox.cf" <<EOF
dbpath = $pf/vmail.sqlite
query = SELECT maildir FROM mailbox WHERE username = '%s' AND active = 1
EOF
    "$E2E_PY" "$E2E_LIB/vmail.py" create "$pf/vmail.sqlite"
    chmod 0644 "$pf/vmail.sqlite"
}

# Makes ADDRESS a mailbox Postfix accepts; its maildir appears on first delivery.
e2e_postfix_add_mailbox() {
    "$E2E_PY" "$E2E_LIB/vmail.py" add "$E2E_DIR/postfix/vmail.sqlite" "$1" \
        || e2e_die "could not add $1 to the mailbox table"
}

e2e_postfix_start() {
    local pf=$E2E_DIR/postfix
    # `postfix check` creates the queue's subdirectories with the right owners on first start.
    postfix -c "$pf/conf" check >>"$E2E_DIR/log/postfix-start.log" 2>&1 \
        || { cat "$E2E_DIR/log/postfix-start.log" >&2; e2e_die "postfix check failed"; }
    postfix -c "$pf/conf" start >>"$E2E_DIR/log/postfix-start.log" 2>&1 \
        || { cat "$E2E_DIR/log/postfix-start.log" >&2; e2e_die "postfix start failed"; }
    # The master daemonizes; its PID file is the handle teardown uses.
    e2e_wait_file "$pf/queue/pid/master.pid" "postfix master"
    local pid
    pid=$(tr -d ' \n' <"$pf/queue/pid/master.pid")
    e2e_register_pid postfix-master "$pid"
    e2e_wait_port "$E2E_SMTP_PORT" postfix "$E2E_DIR/log/postfix.log"
    e2e_log "postfix master pid $pid, SMTP on 127.0.0.1:$E2E_SMTP_PORT"
}

# Waits until Postfix's queue is empty (every accepted message delivered or bounced).
e2e_postfix_wait_queue_empty() {
    for _ in $(seq 1 300); do
        if [ -z "$(find "$E2E_DIR/postfix/queue/incoming" "$E2E_DIR/postfix/queue/active" \
            "$E2E_DIR/postfix/queue/deferred" "$E2E_DIR/postfix/queue/maildrop" -type f 2>/dev/null)" ]; then
            return 0
        fi
        sleep 0.1
    done
    e2e_die "postfix queue not empty after 30 s (log: $E2E_DIR/log/postfix.log)"
}
