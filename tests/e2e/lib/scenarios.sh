# shellcheck shell=bash
# tests/e2e/lib/scenarios.sh — the end-to-end scenarios, driving the real smime-provisioner daemon
# against the bundled simulator (a separate process), delivering through the run's Postfix:
#   A maildir: a first mail creates a new mailbox's maildir → the daemon orders, bundles, delivers →
#     bundle and password arrive over IMAP → NSS imports the modern bundle, gpgsm the compat (RSA)
#     one, each signs, and openssl verifies every signature against the simulator's root;
#   B LDAP: ldapadd → slapcat export → exactly the new entries are ordered; a deleted entry under
#     removal policy "keep" changes nothing billable; a truncated export trips the mass-removal guard;
#   C hook: PostfixAdmin's wrapper from contrib/ enqueues while the daemon is stopped; starting the
#     daemon delivers it;
#   D sendmail and renew: delivery through Postfix's own sendmail(1) instead of SMTP, then `renew`
#     beside the running daemon → a second order, a fresh key and certificate, mailed the same way.
# Orders are counted at the simulator (GET /_simulator/orders), never taken from the product's word.

# Asserts the simulator holds exactly N billable orders for ADDRESS.
e2e_expect_orders() {
    local address=$1 n=$2 got
    got=$(e2e_sim_order_count "$address") || e2e_die "cannot read the simulator's orders"
    [ "$got" -eq "$n" ] || e2e_die "the simulator holds $got order(s) for $address, expected $n"
    e2e_log "ok: $n order(s) for $address at the simulator"
}

e2e_expect_total_orders() {
    local n=$1 got
    got=$(e2e_sim_order_count) || e2e_die "cannot read the simulator's orders"
    [ "$got" -eq "$n" ] || e2e_die "the simulator holds $got order(s) in all, expected $n"
    e2e_log "ok: $n order(s) in all at the simulator"
}

# Waits for ADDRESS's bundle and password mails (MIN messages in its INBOX, counting the run's own),
# takes them apart, and checks the bundle's profile and that openssl signs and verifies with it.
# Leaves the bundle and password in $E2E_DIR/inbox/ADDRESS/.
e2e_receive_bundle() {
    local address=$1 min=$2 profile=$3
    local dir=$E2E_DIR/inbox/$address
    rm -rf "$dir" && mkdir -p "$dir" && chmod 0700 "$dir"
    e2e_wait_for_mail "$address" "$dir" "$min"
    e2e_take_delivery "$address" "$dir"
    E2E_BUNDLES_DELIVERED=$((E2E_BUNDLES_DELIVERED + 1))
    # Passwords never reach a log: not the daemon's, the simulator's, Postfix's or Dovecot's.
    local leaks
    leaks=$(grep -rlF -f "$dir/password" "$E2E_DIR/log" || true)
    [ -z "$leaks" ] || e2e_die "the PKCS#12 password for $address appears in: $leaks"
    e2e_check "the bundle for $address has the $profile profile" \
        e2e_p12_has_profile "$dir/bundle.p12" "$dir/password" "$profile"
    e2e_check "openssl signs with $address's bundle and the signature verifies against the simulator's root" \
        e2e_openssl_sign_verify "$dir/bundle.p12" "$dir/password" "$E2E_SIM_ROOT" "$address" "$dir/openssl"
    E2E_SIGNATURES_VERIFIED=$((E2E_SIGNATURES_VERIFIED + 1))
}

# Creates a mailbox and sends it its first mail, which makes Postfix create the maildir.
e2e_new_mailbox_with_first_mail() {
    local address=$1
    e2e_add_mailbox "$address"
    e2e_send_mail "$address" "e2e: welcome to your new mailbox"
    e2e_postfix_wait_queue_empty
    e2e_is_maildir "$(e2e_maildir_of "$address")" || e2e_die "the first mail did not create $address's maildir"
}

# Messages in ADDRESS's maildir now (new/ and cur/).
e2e_message_count() {
    local md
    md=$(e2e_maildir_of "$1")
    find "$md/new" "$md/cur" -type f 2>/dev/null | wc -l
}

e2e_scenario_maildir() {
    local amy=amy@$E2E_MAIL_DOMAIN bert=bert@$E2E_MAIL_DOMAIN
    # Every mailbox the self-tests created is in the tree before the daemon starts: its initial
    # scan must find each, and each gets a bundle and a password mail on top of what it holds.
    local -a preexisting=()
    local -A held=()
    local d a
    for d in "$E2E_MAIL_ROOT/$E2E_MAIL_DOMAIN"/*/; do
        a=$(basename "$d")@$E2E_MAIL_DOMAIN
        preexisting+=("$a")
        held[$a]=$(e2e_message_count "$a")
    done
    [ "${#preexisting[@]}" -gt 0 ] || e2e_die "the self-tests left no mailbox in $E2E_MAIL_ROOT/$E2E_MAIL_DOMAIN"
    local before
    before=$(e2e_sim_order_count) || e2e_die "cannot read the simulator's orders"

    # Modern profile, P-256: what current Thunderbird, Outlook and Apple Mail read.
    CFG_KEY_TYPE=ec-p256 CFG_PROFILE=modern CFG_WIRE=json e2e_write_config
    e2e_daemon_start
    for a in "${preexisting[@]}"; do
        e2e_receive_bundle "$a" $((held[$a] + 2)) modern
        e2e_expect_orders "$a" 1
    done
    e2e_new_mailbox_with_first_mail "$amy"
    e2e_receive_bundle "$amy" 3 modern
    e2e_check "NSS (pk12util) imports $amy's modern bundle with the password from the separate mail, and signs with it" \
        e2e_nss_import_and_sign "$E2E_DIR/inbox/$amy/bundle.p12" "$E2E_DIR/inbox/$amy/password" "$E2E_SIM_ROOT" "$amy" "$E2E_DIR/inbox/$amy/nss"
    E2E_IMPORTS_VERIFIED=$((E2E_IMPORTS_VERIFIED + 1))
    E2E_SIGNATURES_VERIFIED=$((E2E_SIGNATURES_VERIFIED + 1))
    e2e_expect_orders "$amy" 1
    e2e_daemon_stop

    # Compat profile, RSA: what Debian 12's gpgsm (and older Windows/macOS) can import. A restart
    # with the new settings must not order anything again for mailboxes already delivered.
    CFG_KEY_TYPE=rsa-2048 CFG_PROFILE=compat CFG_WIRE=json e2e_write_config
    e2e_daemon_start
    e2e_new_mailbox_with_first_mail "$bert"
    e2e_receive_bundle "$bert" 3 compat
    e2e_check "gpgsm imports $bert's compat RSA bundle with the password from the separate mail, and signs with it" \
        e2e_gpgsm_import_and_sign "$E2E_DIR/inbox/$bert/bundle.p12" "$E2E_DIR/inbox/$bert/password" "$E2E_SIM_ROOT" "$bert" "$E2E_DIR/inbox/$bert/gpgsm"
    e2e_check "NSS (pk12util) imports the compat bundle too" \
        e2e_nss_import_and_sign "$E2E_DIR/inbox/$bert/bundle.p12" "$E2E_DIR/inbox/$bert/password" "$E2E_SIM_ROOT" "$bert" "$E2E_DIR/inbox/$bert/nss"
    E2E_IMPORTS_VERIFIED=$((E2E_IMPORTS_VERIFIED + 2))
    E2E_SIGNATURES_VERIFIED=$((E2E_SIGNATURES_VERIFIED + 2))
    e2e_expect_orders "$bert" 1
    e2e_expect_orders "$amy" 1
    e2e_expect_total_orders $((before + ${#preexisting[@]} + 2))
    e2e_daemon_stop
}

# The LDAP scenario's people: names only; their domain is $E2E_DIR_DOMAIN.
E2E_LDAP_FIRST=(lena mark nina otto paul quinn rosa sven tina uwe)
E2E_LDAP_LATER=(vera walt)

e2e_export_ldap() { e2e_slapcat_export "$E2E_DIR/ldap/export.ldif"; }

# Adds people (names) to slapd and gives each a mailbox in $E2E_DIR_DOMAIN (no mail yet).
e2e_ldap_add_people() {
    local name
    for name in "$@"; do
        e2e_add_mailbox "$name@$E2E_DIR_DOMAIN"
    done
    for name in "$@"; do
        e2e_ldap_person_ldif "$name@$E2E_DIR_DOMAIN"
    done | e2e_ldapadd || e2e_die "ldapadd of $# people failed (log: $E2E_DIR/log/ldap-client.log)"
}

# An LDAP-backed installation of its own (own state, LDIF the only source, XML gateway): the
# directory decides who has a mailbox.
e2e_scenario_ldap() {
    mkdir -p "$E2E_DIR/ldap"
    local before n name
    before=$(e2e_sim_order_count) || e2e_die "cannot read the simulator's orders"
    # The export exists before the daemon starts: the base entries, nobody in ou=people yet.
    e2e_export_ldap
    CFG_STATE=ldap CFG_DOMAIN=$E2E_DIR_DOMAIN CFG_MAILDIR=false CFG_LDIF=true CFG_WIRE=xml \
        CFG_KEY_TYPE=ec-p256 CFG_PROFILE=modern CFG_REMOVAL=keep e2e_write_config
    e2e_daemon_start

    # Ten people by ldapadd, one export: each of them is ordered once and gets a bundle.
    e2e_ldap_add_people "${E2E_LDAP_FIRST[@]}"
    e2e_export_ldap
    for name in "${E2E_LDAP_FIRST[@]}"; do
        e2e_receive_bundle "$name@$E2E_DIR_DOMAIN" 2 modern
        e2e_expect_orders "$name@$E2E_DIR_DOMAIN" 1
    done

    # Two more: exactly these two are ordered, nobody else again.
    e2e_ldap_add_people "${E2E_LDAP_LATER[@]}"
    e2e_export_ldap
    for name in "${E2E_LDAP_LATER[@]}"; do
        e2e_receive_bundle "$name@$E2E_DIR_DOMAIN" 2 modern
        e2e_expect_orders "$name@$E2E_DIR_DOMAIN" 1
    done
    n=$((${#E2E_LDAP_FIRST[@]} + ${#E2E_LDAP_LATER[@]}))
    e2e_expect_total_orders $((before + n))

    # One person leaves (1 of 12, under the 10 % guard) with removal policy keep: the daemon
    # notes it, and nothing billable happens (no new order; revocation is not ordered either).
    local gone=${E2E_LDAP_FIRST[0]}@$E2E_DIR_DOMAIN
    e2e_ldapdelete "uid=${E2E_LDAP_FIRST[0]},ou=people,$E2E_LDAP_BASE" || e2e_die "ldapdelete failed"
    e2e_export_ldap
    e2e_wait_field "$gone" present false
    e2e_expect_field "$gone" stage delivered
    e2e_expect_total_orders $((before + n))

    # A truncated export (a cron job that died half-way: the file ends after two people) must not
    # be taken as nine people leaving.
    local full=$E2E_DIR/ldap/full.ldif
    cp "$E2E_DIR/ldap/export.ldif" "$full"
    awk -v RS= -v ORS='\n\n' 'NR <= 4' "$full" >"$E2E_DIR/ldap/export.ldif.tmp"
    mv -f "$E2E_DIR/ldap/export.ldif.tmp" "$E2E_DIR/ldap/export.ldif"
    # The LDIF source knows n-1 people; the truncated file keeps the base, ou=people and two people.
    # The wording is source::guard's MassRemovalRefused, logged by daemon::sources as
    # "mass-removal-refused: the ldif source: ...".
    local would_remove=$((n - 1 - 2))
    local refusal="mass-removal-refused: the ldif source: refused to remove $would_remove of $((n - 1)) known mailboxes"
    e2e_wait_log "the mass-removal guard refuses the truncated export" "$refusal" 1
    # The cron job runs again and writes the same truncated file. The source handles updates one
    # after the other, so its second refusal proves the first update is done with before the
    # store is read.
    cp "$E2E_DIR/ldap/export.ldif" "$E2E_DIR/ldap/export.ldif.tmp"
    mv -f "$E2E_DIR/ldap/export.ldif.tmp" "$E2E_DIR/ldap/export.ldif"
    e2e_wait_log "the guard refuses the rewritten truncated export again" "$refusal" 2
    e2e_daemon_alive
    for name in "${E2E_LDAP_FIRST[@]:1}" "${E2E_LDAP_LATER[@]}"; do
        e2e_expect_field "$name@$E2E_DIR_DOMAIN" present true
    done
    e2e_expect_total_orders $((before + n))
    e2e_daemon_stop
}

# The PostfixAdmin hook (contrib/postfixadmin/mailbox-postcreation.sh) while the daemon is down,
# run as an unprivileged user as PostfixAdmin's web server would (PRODUCT.md: "usable by an
# unprivileged hook user").
E2E_HOOK_USER=nobody
e2e_scenario_hook() {
    local hugo=hugo@$E2E_MAIL_DOMAIN
    local hook=$E2E_REPO/contrib/postfixadmin/mailbox-postcreation.sh
    [ -x "$hook" ] || e2e_die "$hook is missing or not executable"
    CFG_KEY_TYPE=ec-p256 CFG_PROFILE=modern CFG_WIRE=json e2e_write_config
    # PostfixAdmin creates the mailbox (no mail yet, so no maildir the maildir source could see),
    # then runs its post-creation script with address, domain, maildir path and quota.
    e2e_add_mailbox "$hugo"
    # As PostfixAdmin does: the web server's unprivileged user, no root, a clean environment.
    setpriv --reuid="$E2E_HOOK_USER" --regid="$E2E_HOOK_GROUP" --clear-groups \
        env -i PATH=/usr/bin:/bin SMIME_PROVISIONER="$E2E_BIN" SMIME_PROVISIONER_CONFIG="$E2E_CONFIG" \
        "$hook" "$hugo" "$E2E_MAIL_DOMAIN" "$E2E_MAIL_DOMAIN/hugo/" 0 >>"$E2E_DIR/log/hook.log" 2>&1 \
        || { cat "$E2E_DIR/log/hook.log" >&2; e2e_die "the PostfixAdmin hook, run as $E2E_HOOK_USER:$E2E_HOOK_GROUP, failed while the daemon was stopped"; }
    e2e_check "the hook left a request in the spool while the daemon was stopped" \
        test -n "$(find "$E2E_SPOOL" -type f -print -quit)"
    e2e_expect_orders "$hugo" 0
    e2e_daemon_start
    e2e_receive_bundle "$hugo" 2 modern
    e2e_check "NSS (pk12util) imports $hugo's bundle and signs with it" \
        e2e_nss_import_and_sign "$E2E_DIR/inbox/$hugo/bundle.p12" "$E2E_DIR/inbox/$hugo/password" "$E2E_SIM_ROOT" "$hugo" "$E2E_DIR/inbox/$hugo/nss"
    E2E_IMPORTS_VERIFIED=$((E2E_IMPORTS_VERIFIED + 1))
    E2E_SIGNATURES_VERIFIED=$((E2E_SIGNATURES_VERIFIED + 1))
    e2e_expect_orders "$hugo" 1
    e2e_check "the spool is empty once the request is handled" \
        test -z "$(find "$E2E_SPOOL" -type f -print -quit)"
    # Every mailbox is delivered and nothing is queued: the daemon has nothing to do now.
    e2e_measure_idle_cpu
    e2e_daemon_stop
}

# The SHA-256 fingerprint of the certificate in a bundle (FILE, PASSWORD-FILE).
e2e_p12_fingerprint() {
    openssl pkcs12 -in "$1" -passin "file:$2" -nokeys -clcerts 2>/dev/null \
        | openssl x509 -noout -fingerprint -sha256
}

# Messages in ADDRESS's fetched mail DIR that Postfix took in through sendmail(1) (pickup(8) stamps
# "from userid N"), not over SMTP.
e2e_count_picked_up() {
    grep -l "(Postfix, from userid " "$1"/*.eml 2>/dev/null | wc -l
}

e2e_scenario_sendmail_renew() {
    local cleo=cleo@$E2E_MAIL_DOMAIN
    local sendmail=$E2E_DIR/product/sendmail
    # Postfix's sendmail finds this run's instance through MAIL_CONFIG (postfix(1)); an admin with
    # the system Postfix points `command` at /usr/sbin/sendmail itself.
    printf '#!/bin/sh\nMAIL_CONFIG=%s exec /usr/sbin/sendmail "$@"\n' "$E2E_DIR/postfix/conf" >"$sendmail"
    chmod 0755 "$sendmail"
    CFG_TRANSPORT=sendmail CFG_SENDMAIL=$sendmail CFG_KEY_TYPE=ec-p256 CFG_PROFILE=modern \
        CFG_WIRE=json e2e_write_config
    e2e_daemon_start
    e2e_new_mailbox_with_first_mail "$cleo"
    e2e_receive_bundle "$cleo" 3 modern
    local dir=$E2E_DIR/inbox/$cleo
    e2e_check "bundle and password mail for $cleo came through sendmail(1), not SMTP" \
        test "$(e2e_count_picked_up "$dir")" -eq 2
    e2e_expect_orders "$cleo" 1
    local first
    first=$(e2e_p12_fingerprint "$dir/bundle.p12" "$dir/password") || e2e_die "cannot read $cleo's first bundle"

    # The user has read and deleted the mails; the admin renews beside the running daemon.
    rm -f "$(e2e_maildir_of "$cleo")"/new/* "$(e2e_maildir_of "$cleo")"/cur/*
    e2e_product renew --no-wait "$cleo" >>"$E2E_DIR/log/renew.log" 2>&1 \
        || { cat "$E2E_DIR/log/renew.log" >&2; e2e_die "renew $cleo failed"; }
    e2e_receive_bundle "$cleo" 2 modern
    e2e_check "the renewed bundle came through sendmail(1) too" \
        test "$(e2e_count_picked_up "$dir")" -eq 2
    local second
    second=$(e2e_p12_fingerprint "$dir/bundle.p12" "$dir/password") || e2e_die "cannot read $cleo's renewed bundle"
    e2e_check "the renewed bundle holds a new certificate" test "$first" != "$second"
    e2e_expect_orders "$cleo" 2
    e2e_wait_field "$cleo" stage delivered
    e2e_daemon_stop
}
