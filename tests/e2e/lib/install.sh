# shellcheck shell=bash
# tests/e2e/lib/install.sh — installs the mail stack's Debian packages non-interactively, and only
# those missing, so a warm machine skips apt entirely.
#
# Preseeding: Postfix would otherwise ask for a mailer type and write /etc/postfix/main.cf; slapd
# would ask for an admin password and create a system database. We configure both ourselves in the
# run's state directory, so both are told "no configuration". A policy-rc.d that exits 101 keeps
# the packages' maintainer scripts from starting system-wide daemons (invoke-rc.d honours it).

E2E_PACKAGES=(
    postfix          # MTA: virtual domain example.test, delivery into the maildir tree
    postfix-sqlite   # sqlite: lookup tables, read per query like PostfixAdmin's SQL maps
    dovecot-imapd    # IMAP access to the same maildir tree
    slapd            # OpenLDAP server for the LDIF source
    ldap-utils       # ldapadd, ldapdelete, ldapsearch
    gpgsm            # S/MIME client that imports compat-profile bundles
    gpg-agent        # gpgsm keeps private keys in gpg-agent; only Recommended by gpgsm
    libnss3-tools    # certutil and pk12util: NSS, the library Thunderbird uses
    openssl          # openssl smime -sign / -verify, pkcs12 -info
    python3-aiosmtpd # SMTP sink for the separate password channel, for /usr/bin/python3
)

e2e_missing_packages() {
    local pkg status
    for pkg in "${E2E_PACKAGES[@]}"; do
        status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
        [ "$status" = installed ] || printf '%s\n' "$pkg"
    done
}

e2e_install_packages() {
    local missing
    mapfile -t missing < <(e2e_missing_packages)
    if [ "${#missing[@]}" -eq 0 ]; then
        e2e_log "packages already installed; skipping apt"
        return 0
    fi
    [ "$(id -u)" -eq 0 ] || e2e_die "packages missing (${missing[*]}) and not root: run as root or install them first"
    e2e_log "installing: ${missing[*]}"

    local made_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 0755 /usr/sbin/policy-rc.d
        made_policy=1
    fi
    debconf-set-selections <<'EOF'
postfix postfix/main_mailer_type select No configuration
slapd slapd/no_configuration boolean true
EOF
    local rc=0 attempt
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >"$E2E_DIR/log/apt.log" 2>&1 || rc=$?
    # Another apt may hold the dpkg lock for a while (e.g. unattended upgrades on a fresh VM).
    for attempt in 1 2 3 4 5 6; do
        rc=0
        apt-get install -y -q --no-install-recommends \
            -o DPkg::Lock::Timeout=120 "${missing[@]}" >>"$E2E_DIR/log/apt.log" 2>&1 || rc=$?
        [ "$rc" -eq 0 ] && break
        e2e_log "apt-get install failed (exit $rc, attempt $attempt); retrying in 5 s"
        sleep 5
    done
    [ "$made_policy" -eq 1 ] && rm -f /usr/sbin/policy-rc.d
    if [ "$rc" -ne 0 ]; then
        tail -n 20 "$E2E_DIR/log/apt.log" >&2
        e2e_die "apt-get install ${missing[*]} failed (log: $E2E_DIR/log/apt.log)"
    fi
}

# Every binary the run calls, each named with the package that provides it.
e2e_require_tools() {
    e2e_require postfix postfix
    [ -e /usr/lib/postfix/postfix-sqlite.so ] \
        || e2e_die "Postfix has no sqlite map type: install the Debian package 'postfix-sqlite'"
    e2e_require dovecot dovecot-imapd
    e2e_require /usr/sbin/slapd slapd
    e2e_require /usr/sbin/slapadd slapd
    e2e_require /usr/sbin/slapcat slapd
    e2e_require ldapadd ldap-utils
    e2e_require ldapdelete ldap-utils
    e2e_require ldapsearch ldap-utils
    e2e_require gpgsm gpgsm
    e2e_require gpg-agent gpg-agent
    e2e_require gpg-connect-agent gpgconf
    e2e_require pk12util libnss3-tools
    e2e_require certutil libnss3-tools
    e2e_require cmsutil libnss3-tools
    e2e_require openssl openssl
    e2e_require "$E2E_PY" python3
    "$E2E_PY" -c 'import aiosmtpd' 2>/dev/null \
        || e2e_die "/usr/bin/python3 cannot import aiosmtpd: install the Debian package 'python3-aiosmtpd'"
}
