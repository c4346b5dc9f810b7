# shellcheck shell=bash
# tests/e2e/lib/stack_selftest.sh — proves the mail stack itself before any product code runs, so a
# scenario failure later points at the product, not at the stack:
#   - Postfix accepts mail for a new example.test mailbox and its first delivery creates
#     ROOT/example.test/{local}/ with cur/new/tmp; an unknown address is refused with 550;
#   - a mailbox added right after another is accepted at once (no reload, no wait);
#   - Dovecot serves the delivered message over IMAP on 127.0.0.1 (imaplib);
#   - slapd takes users by ldapadd, returns them by ldapsearch, and slapcat exports them with
#     the operational attributes (entryUUID) the product's LDIF source keys on.

# Creates a mailbox the way PostfixAdmin would: Postfix learns the address, Dovecot a login with a
# random password kept in a 0600 file. The maildir itself appears only on first delivery.
e2e_add_mailbox() {
    e2e_add_login "$1"
    e2e_postfix_add_mailbox "$1"
}

# The Dovecot half of a mailbox: an IMAP login with a random password in a 0600 file.
e2e_add_login() {
    local address=$1
    mkdir -p "$E2E_DIR/logins"
    chmod 0700 "$E2E_DIR/logins"
    local pwfile=$E2E_DIR/logins/$address
    (umask 077 && openssl rand -hex 12 >"$pwfile")
    e2e_dovecot_add_user "$address" "$(cat "$pwfile")"
}

e2e_maildir_of() { printf '%s/%s/%s' "$E2E_MAIL_ROOT" "${1#*@}" "${1%@*}"; }

e2e_send_mail() {
    local to=$1 subject=$2
    "$E2E_PY" "$E2E_LIB/mail.py" send --port "$E2E_SMTP_PORT" --sender postmaster@e2e.test \
        --to "$to" --subject "$subject"
}

# Fetches ADDRESS's INBOX over IMAP into DIR once it holds at least MIN messages; prints the count.
e2e_imap_fetch() {
    local address=$1 dir=$2 min=${3:-1}
    "$E2E_PY" "$E2E_LIB/mail.py" fetch --port "$E2E_IMAP_PORT" --user "$address" \
        --password-file "$E2E_DIR/logins/$address" --out "$dir" --min "$min" --timeout 30
}

# Fails unless every listening socket of the registered processes (and their children) is bound to
# 127.0.0.1, and each of them listens somewhere. `ss -ltnup` names the owning PIDs of each socket.
e2e_listeners_loopback_only() {
    local pid name bad=0 sockets
    while read -r pid _ name; do
        case $name in postfix-master | dovecot-master | slapd | simulator) ;; *) continue ;; esac
        sockets=$(ss -Hltnup | grep -E "pid=$pid," || true)
        [ -n "$sockets" ] || { e2e_log "$name (pid $pid) listens nowhere"; bad=1; }
        # Columns: netid, state, recv-q, send-q, local address, peer, process.
        while read -r _ _ _ _ local _; do
            [ -n "$local" ] || continue
            case $local in 127.0.0.1:*) ;; *) e2e_log "$name (pid $pid) listens on $local"; bad=1 ;; esac
        done <<<"$sockets"
    done <"$E2E_DIR/pids"
    [ "$bad" -eq 0 ]
}

e2e_is_maildir() { [ -d "$1/cur" ] && [ -d "$1/new" ] && [ -d "$1/tmp" ]; }

e2e_stack_selftest() {
    local alice=alice@$E2E_MAIL_DOMAIN carol=carol@$E2E_MAIL_DOMAIN
    local out=$E2E_DIR/selftest
    mkdir -p "$out"

    e2e_check "Postfix, Dovecot and slapd listen on 127.0.0.1 only" e2e_listeners_loopback_only

    # --- Postfix + maildir tree
    e2e_add_mailbox "$alice"
    e2e_check "no maildir for $alice before its first mail" test ! -e "$(e2e_maildir_of "$alice")"
    e2e_send_mail "$alice" "e2e: stack self-test 1"
    e2e_postfix_wait_queue_empty
    e2e_check "first mail to $alice created its maildir (cur/new/tmp)" e2e_is_maildir "$(e2e_maildir_of "$alice")"
    e2e_check "the maildir belongs to the vmail uid $E2E_VMAIL_UID" \
        test "$(stat -c %u "$(e2e_maildir_of "$alice")")" = "$E2E_VMAIL_UID"
    e2e_check "exactly one message in $alice's new/" \
        test "$(find "$(e2e_maildir_of "$alice")/new" -type f | wc -l)" -eq 1

    local refused
    if refused=$(e2e_send_mail "nobody@$E2E_MAIL_DOMAIN" "must bounce" 2>&1); then
        e2e_die "Postfix accepted mail for an address that is no mailbox"
    fi
    e2e_check "an unknown address is refused at RCPT time with 550" grep -q "550" <<<"$refused"

    # Added while an SMTP session is already open (as a pooling mailer keeps one): that same
    # session must accept the new mailbox, without a reload.
    "$E2E_PY" "$E2E_LIB/mail.py" send --port "$E2E_SMTP_PORT" --sender postmaster@e2e.test \
        --to "$carol" --subject "e2e: stack self-test 2" \
        --after-ehlo "$E2E_PY $E2E_LIB/vmail.py add $E2E_DIR/postfix/vmail.sqlite $carol" \
        || e2e_die "a mailbox added during an open SMTP session was refused in that session"
    e2e_add_login "$carol"
    e2e_postfix_wait_queue_empty
    e2e_check "a mailbox added during an open SMTP session receives mail in that session" \
        e2e_is_maildir "$(e2e_maildir_of "$carol")"

    # --- Dovecot IMAP over the same tree
    local count
    count=$(e2e_imap_fetch "$alice" "$out/alice" 1)
    e2e_check "IMAP INBOX of $alice holds exactly one message" test "$count" -eq 1
    e2e_check "the message fetched over IMAP is the one sent" \
        grep -q '^Subject: e2e: stack self-test 1' "$out"/alice/*.eml
    if "$E2E_PY" "$E2E_LIB/mail.py" fetch --port "$E2E_IMAP_PORT" --user "$alice" \
        --password-file /dev/null --out "$out/wrong" --timeout 0 2>/dev/null; then
        e2e_die "Dovecot accepted a login with an empty password"
    fi
    e2e_log "ok: Dovecot refuses a wrong password"

    # --- slapd: add, search, export
    {
        e2e_ldap_person_ldif "dave@$E2E_MAIL_DOMAIN"
        e2e_ldap_person_ldif "erin@$E2E_MAIL_DOMAIN"
    } | e2e_ldapadd || e2e_die "ldapadd of two users failed (log: $E2E_DIR/log/ldap-client.log)"
    local found
    found=$(ldapsearch -x -LLL -H "$(e2e_ldap_url)" -b "ou=people,$E2E_LDAP_BASE" '(objectClass=inetOrgPerson)' mail \
        | sed -n 's/^mail: //p' | sort | tr '\n' ' ')
    e2e_check "ldapsearch returns the two added users" test "$found" = "dave@$E2E_MAIL_DOMAIN erin@$E2E_MAIL_DOMAIN "
    e2e_slapcat_export "$out/export.ldif"
    e2e_check "slapcat export holds both mail attributes" \
        test "$(grep -c '^mail: ' "$out/export.ldif")" -eq 2
    e2e_check "slapcat export carries entryUUID for every entry" \
        test "$(grep -c '^entryUUID: ' "$out/export.ldif")" -eq "$(grep -c '^dn: ' "$out/export.ldif")"
    e2e_ldapdelete "uid=dave,ou=people,$E2E_LDAP_BASE" || e2e_die "ldapdelete failed"
    e2e_slapcat_export "$out/export.ldif"
    e2e_check "after ldapdelete the export holds one mail attribute" \
        test "$(grep -c '^mail: ' "$out/export.ldif")" -eq 1
    # Leave the directory without people: the LDAP scenario starts from an empty ou=people.
    e2e_ldapdelete "uid=erin,ou=people,$E2E_LDAP_BASE" || e2e_die "ldapdelete failed"
}
