# shellcheck shell=bash
# tests/e2e/lib/clients.sh — what a user's S/MIME client does with a delivered PKCS#12 bundle, done
# with real clients, each in its own throwaway profile under a 0700 work directory:
#   - NSS (libnss3-tools; the library Thunderbird uses): pk12util imports the bundle, certutil shows
#     the certificate as a user certificate with its key, cmsutil signs with it;
#   - gpgsm (GnuPG's S/MIME tool): imports the bundle (compat profile only: gpgsm 2.2.40 in Debian
#     12 reads no PBES2/AES bundles, toolchain-notes.md) and signs with it;
#   - openssl: signs with the key and certificate taken out of the bundle;
# and every signature is verified with `openssl cms|smime -verify -purpose smimesign` against a
# root given separately (the CA's own root, never one taken from the bundle).
#
# Passwords are passed by file or stdin, never on a command line (visible in ps).

# Writes the password's first line, without its newline, into a 0600 file; prints the file's path.
e2e_password_file() {
    local source=$1 dir=$2
    local out=$dir/password
    (umask 077 && head -n 1 "$source" | tr -d '\r\n' >"$out")
    [ -s "$out" ] || e2e_die "the password from $source is empty"
    printf '%s' "$out"
}

# Fails unless the bundle uses the encryption of PROFILE: modern = PBES2/PBKDF2/AES-256-CBC for key
# and certificates; compat = pbeWithSHA1And3-KeyTripleDES-CBC with a SHA-1 MAC (what older
# Windows, macOS and gpgsm read). `openssl pkcs12 -info` prints the algorithms actually used.
e2e_p12_has_profile() {
    local p12=$1 pwfile=$2 profile=$3 info
    info=$(openssl pkcs12 -in "$p12" -passin "file:$pwfile" -info -noout 2>&1) \
        || { e2e_log "openssl pkcs12 -info: $info"; return 1; }
    case $profile in
        modern)
            grep -q '^Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC' <<<"$info" \
                && grep -q '^PKCS7 Encrypted data: PBES2, PBKDF2, AES-256-CBC' <<<"$info" \
                && grep -q '^MAC: sha256' <<<"$info"
            ;;
        compat)
            grep -q '^Shrouded Keybag: pbeWithSHA1And3-KeyTripleDES-CBC' <<<"$info" \
                && grep -q '^PKCS7 Encrypted data: pbeWithSHA1And3-KeyTripleDES-CBC' <<<"$info" \
                && grep -q '^MAC: sha1' <<<"$info"
            ;;
        *) e2e_die "unknown PKCS#12 profile '$profile'" ;;
    esac
}

# Takes the bundle apart with openssl into WORK/{key,cert,chain}.pem (key 0600 in the 0700 WORK).
e2e_p12_extract() {
    local p12=$1 pwfile=$2 work=$3
    (umask 077 && openssl pkcs12 -in "$p12" -passin "file:$pwfile" -nocerts -nodes -out "$work/key.pem" 2>>"$work/openssl.log") \
        || { cat "$work/openssl.log" >&2; return 1; }
    openssl pkcs12 -in "$p12" -passin "file:$pwfile" -clcerts -nokeys -out "$work/cert.pem" 2>>"$work/openssl.log" \
        || return 1
    openssl pkcs12 -in "$p12" -passin "file:$pwfile" -cacerts -nokeys -out "$work/chain.pem" 2>>"$work/openssl.log" \
        || return 1
}

# The rfc822Name of a PEM certificate (the one address an S/MIME mailbox certificate names).
e2e_cert_email() { openssl x509 -in "$1" -noout -ext subjectAltName | sed -n 's/^ *email://p' | tr -d ' '; }

# Signs a test message with openssl using the bundle's key, certificate and chain, then verifies
# it against ROOT for S/MIME signing. Also checks the certificate names ADDRESS.
e2e_openssl_sign_verify() {
    local p12=$1 pwfile=$2 root=$3 address=$4 work=$5
    mkdir -p "$work" && chmod 0700 "$work"
    e2e_p12_extract "$p12" "$pwfile" "$work" || { e2e_log "openssl could not open the bundle"; return 1; }
    [ "$(e2e_cert_email "$work/cert.pem")" = "$address" ] \
        || { e2e_log "bundle certificate names '$(e2e_cert_email "$work/cert.pem")', not $address"; return 1; }
    printf 'Signed by %s in the e2e run.\n' "$address" >"$work/message.txt"
    openssl smime -sign -in "$work/message.txt" -signer "$work/cert.pem" -inkey "$work/key.pem" \
        -certfile "$work/chain.pem" -out "$work/signed.eml" 2>>"$work/openssl.log" \
        || { e2e_log "openssl smime -sign failed: $(tail -n 3 "$work/openssl.log")"; return 1; }
    openssl smime -verify -in "$work/signed.eml" -CAfile "$root" -purpose smimesign \
        -out "$work/verified.txt" 2>>"$work/openssl.log" \
        || { e2e_log "openssl smime -verify failed: $(tail -n 3 "$work/openssl.log")"; return 1; }
    # S/MIME canonicalises text to CRLF line ends (RFC 8551 §3.1.1); compare without them.
    [ "$(tr -d '\r' <"$work/verified.txt")" = "$(cat "$work/message.txt")" ] \
        || { e2e_log "the verified content differs from the signed message"; return 1; }
}

# Imports the bundle into a fresh NSS database with pk12util, checks that the certificate for
# ADDRESS is there as a user certificate (trust u,u,u = it has its private key) with its key listed,
# trusts ROOT for e-mail as a mail client's built-in roots are, signs with cmsutil, and verifies
# the signature with openssl against ROOT.
e2e_nss_import_and_sign() {
    local p12=$1 pwfile=$2 root=$3 address=$4 work=$5
    mkdir -p "$work/nssdb" && chmod 0700 "$work" "$work/nssdb"
    local db=sql:$work/nssdb
    certutil -N -d "$db" --empty-password >>"$work/nss.log" 2>&1 || { e2e_log "certutil -N failed"; return 1; }
    pk12util -i "$p12" -d "$db" -w "$pwfile" >>"$work/nss.log" 2>&1 \
        || { e2e_log "pk12util import failed: $(tail -n 2 "$work/nss.log")"; return 1; }
    local nick
    nick=$(certutil -L -d "$db" | sed -n 's/[[:space:]]\{1,\}u,u,u$//p' | head -n 1)
    [ -n "$nick" ] || { e2e_log "NSS holds no user certificate (u,u,u) after the import"; return 1; }
    certutil -L -d "$db" -n "$nick" -a >"$work/nss-cert.pem" 2>>"$work/nss.log" || return 1
    [ "$(e2e_cert_email "$work/nss-cert.pem")" = "$address" ] \
        || { e2e_log "NSS user certificate names '$(e2e_cert_email "$work/nss-cert.pem")', not $address"; return 1; }
    certutil -K -d "$db" 2>>"$work/nss.log" | grep -q . \
        || { e2e_log "NSS lists no private key after the import"; return 1; }
    certutil -A -d "$db" -n e2e-trusted-root -t ",C," -i "$root" >>"$work/nss.log" 2>&1 \
        || { e2e_log "certutil could not add the root"; return 1; }
    printf 'Signed by %s with NSS.\n' "$address" >"$work/nss-message.txt"
    # cmsutil can exit 0 without output when it refuses to sign, so the file must be non-empty.
    if ! cmsutil -S -N "$nick" -d "$db" -i "$work/nss-message.txt" -o "$work/nss-signed.der" >>"$work/nss.log" 2>&1 \
        || [ ! -s "$work/nss-signed.der" ]; then
        e2e_log "cmsutil could not sign: $(tail -n 2 "$work/nss.log")"
        return 1
    fi
    openssl cms -verify -inform DER -in "$work/nss-signed.der" -CAfile "$root" -purpose smimesign \
        -out "$work/nss-verified.txt" 2>>"$work/openssl.log" \
        || { e2e_log "openssl cannot verify NSS's signature: $(tail -n 2 "$work/openssl.log")"; return 1; }
    cmp -s "$work/nss-message.txt" "$work/nss-verified.txt"
}

# Imports the bundle into a fresh gpgsm home (password on stdin, loopback pinentry), checks a secret
# key for <ADDRESS> exists, trusts ROOT (trustlist.txt, as a distribution's root list would), signs
# with gpgsm, and verifies the signature with openssl against ROOT. gpgsm starts a gpg-agent; it is
# registered by PID and stopped before returning.
e2e_gpgsm_import_and_sign() {
    local p12=$1 pwfile=$2 root=$3 address=$4 work=$5
    local home=$work/gnupg
    mkdir -p "$home" && chmod 0700 "$work" "$home"
    # No dirmngr and no CRL fetches: the run has no network and the test CA publishes no CRLs.
    printf 'disable-dirmngr\ndisable-crl-checks\n' >"$home/gpgsm.conf"
    local rc=0
    GNUPGHOME=$home gpgsm --batch --pinentry-mode loopback --passphrase-fd 0 --import "$p12" \
        <"$pwfile" >>"$work/gpgsm.log" 2>&1 || rc=$?
    e2e_gpgsm_register_agent "$home"
    if [ "$rc" -ne 0 ] || ! grep -q 'secret keys imported: 1' "$work/gpgsm.log"; then
        e2e_log "gpgsm import failed: $(tail -n 3 "$work/gpgsm.log")"
        e2e_gpgsm_stop_agent
        return 1
    fi
    if ! GNUPGHOME=$home gpgsm --list-secret-keys --with-colons 2>>"$work/gpgsm.log" | grep -q "^uid:.*:<$address>:"; then
        e2e_log "gpgsm lists no secret key for <$address>"
        e2e_gpgsm_stop_agent
        return 1
    fi
    printf '%s S\n' "$(openssl x509 -in "$root" -noout -fingerprint -sha1 | cut -d= -f2)" >"$home/trustlist.txt"
    GNUPGHOME=$home gpgsm --import "$root" >>"$work/gpgsm.log" 2>&1 || true
    printf 'Signed by %s with gpgsm.\n' "$address" >"$work/gpgsm-message.txt"
    rc=0
    GNUPGHOME=$home gpgsm --batch --pinentry-mode loopback --passphrase-fd 0 -u "<$address>" \
        --include-certs -1 --detach-sign --output "$work/gpgsm-signed.der" "$work/gpgsm-message.txt" \
        <"$pwfile" >>"$work/gpgsm.log" 2>&1 || rc=$?
    e2e_gpgsm_stop_agent
    [ "$rc" -eq 0 ] || { e2e_log "gpgsm could not sign: $(tail -n 3 "$work/gpgsm.log")"; return 1; }
    openssl cms -verify -inform DER -binary -in "$work/gpgsm-signed.der" -content "$work/gpgsm-message.txt" \
        -CAfile "$root" -purpose smimesign -out /dev/null 2>>"$work/openssl.log" \
        || { e2e_log "openssl cannot verify gpgsm's signature: $(tail -n 2 "$work/openssl.log")"; return 1; }
}

# gpgsm auto-starts a gpg-agent per home directory; ask it for its PID and record it.
E2E_GPG_AGENT_PID=
e2e_gpgsm_register_agent() {
    local home=$1
    E2E_GPG_AGENT_PID=$(GNUPGHOME=$home gpg-connect-agent --no-autostart 'getinfo pid' /bye 2>/dev/null | sed -n 's/^D //p')
    if [ -n "$E2E_GPG_AGENT_PID" ]; then
        e2e_register_pid gpg-agent "$E2E_GPG_AGENT_PID"
    fi
}

e2e_gpgsm_stop_agent() {
    [ -n "$E2E_GPG_AGENT_PID" ] || return 0
    local line
    line=$(grep "^$E2E_GPG_AGENT_PID " "$E2E_DIR/pids" | tail -n 1)
    # shellcheck disable=SC2086
    [ -z "$line" ] || e2e_stop_pid $line
    E2E_GPG_AGENT_PID=
}
