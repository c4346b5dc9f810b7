# shellcheck shell=bash
# tests/e2e/lib/client_selftest.sh — proves the client checks of clients.sh before they judge the
# product: with a throwaway CA made here by the openssl CLI (root → intermediate → mailbox
# certificate with the S/MIME profile), a modern bundle imports into NSS and signs, a compat bundle
# imports into gpgsm and signs, openssl signs and verifies; and each check fails when it should —
# a wrong password, a root the certificate does not chain to, a bundle of the other profile, a
# certificate for another address. A check that cannot fail would prove nothing in the scenarios.

# Makes WORK/{root,intermediate}.pem and their keys; CA certificates per RFC 5280 §4.2.1.9/4.2.1.3.
e2e_testca_make() {
    local work=$1 name=$2
    mkdir -p "$work" && chmod 0700 "$work"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/root.key" -out "$work/root.pem" -days 2 \
        -subj "/O=e2e/CN=$name Root" -addext "basicConstraints=critical,CA:true" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" 2>>"$work/ca.log"
    openssl req -newkey rsa:2048 -nodes -keyout "$work/intermediate.key" -out "$work/intermediate.csr" \
        -subj "/O=e2e/CN=$name Intermediate" 2>>"$work/ca.log"
    printf 'basicConstraints=critical,CA:true,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\nextendedKeyUsage=emailProtection\n' \
        >"$work/intermediate.ext"
    openssl x509 -req -in "$work/intermediate.csr" -CA "$work/root.pem" -CAkey "$work/root.key" \
        -set_serial 2 -days 2 -extfile "$work/intermediate.ext" -out "$work/intermediate.pem" 2>>"$work/ca.log"
}

# Issues a mailbox certificate for ADDRESS (key type rsa or ec) and bundles it into WORK/NAME.p12
# with the PROFILE's algorithms and the password in PWFILE.
e2e_testca_bundle() {
    local work=$1 address=$2 keytype=$3 profile=$4 pwfile=$5 name=$6
    case $keytype in
        rsa) openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$work/$name.key" 2>>"$work/ca.log" ;;
        ec) openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/$name.key" 2>>"$work/ca.log" ;;
    esac
    openssl req -new -key "$work/$name.key" -subj "/CN=$address/emailAddress=$address" \
        -out "$work/$name.csr" 2>>"$work/ca.log"
    local ku=digitalSignature,keyEncipherment
    [ "$keytype" = ec ] && ku=digitalSignature,keyAgreement
    printf 'subjectAltName=email:%s\nextendedKeyUsage=emailProtection\nkeyUsage=critical,%s\nbasicConstraints=critical,CA:false\n' \
        "$address" "$ku" >"$work/$name.ext"
    openssl x509 -req -in "$work/$name.csr" -CA "$work/intermediate.pem" -CAkey "$work/intermediate.key" \
        -set_serial "0x$(openssl rand -hex 8)" -days 1 -extfile "$work/$name.ext" -out "$work/$name.pem" 2>>"$work/ca.log"
    cat "$work/intermediate.pem" "$work/root.pem" >"$work/chain.pem"
    local algs=()
    [ "$profile" = compat ] && algs=(-certpbe PBE-SHA1-3DES -keypbe PBE-SHA1-3DES -macalg sha1)
    # About one 3DES bundle in 64 has a salt gpgsm 2.2 derives a wrong key from (lib/p12_gpgsm.py);
    # the product builds such a bundle again, and so does this self-test, with fresh salts.
    local try rc
    for try in 1 2 3 4 5 6 7 8; do
        openssl pkcs12 -export -inkey "$work/$name.key" -in "$work/$name.pem" -certfile "$work/chain.pem" \
            -name "$address" "${algs[@]}" -passout "file:$pwfile" -out "$work/$name.p12" 2>>"$work/ca.log"
        rc=0
        "$E2E_PY" "$E2E_LIB/p12_gpgsm.py" "$work/$name.p12" "$pwfile" || rc=$?
        case $rc in
            0) return 0 ;;
            3) e2e_log "bundle $name (try $try) has a salt gpgsm 2.2 cannot use; building it again" ;;
            *) e2e_die "p12_gpgsm.py could not read $work/$name.p12" ;;
        esac
    done
    e2e_die "eight bundles in a row had salts gpgsm 2.2 cannot use; the random number generator is suspect"
}

# Runs CMD and fails the run if it succeeds; for the checks that must reject a bad input.
e2e_check_fails() {
    local what=$1
    shift
    # The failing check logs its own reason, which shows it failed for the expected cause.
    e2e_log "must fail: $what; the reason follows"
    if E2E_EXPECTING_FAILURE=1 "$@"; then
        e2e_die "$what (the check passed but must fail: $*)"
    fi
    e2e_log "ok: $what"
}

e2e_client_selftest() {
    local work=$E2E_DIR/client-selftest
    mkdir -p "$work" && chmod 0700 "$work"
    local addr=frank@$E2E_MAIL_DOMAIN
    (umask 077 && printf 'e2e Pa55 word!' >"$work/pw" && printf 'not the password' >"$work/wrong-pw")
    e2e_testca_make "$work/ca" "E2E Test"
    e2e_testca_make "$work/other-ca" "Unrelated"
    e2e_testca_bundle "$work/ca" "$addr" ec modern "$work/pw" modern-ec
    e2e_testca_bundle "$work/ca" "$addr" rsa compat "$work/pw" compat-rsa
    local root=$work/ca/root.pem other_root=$work/other-ca/root.pem

    e2e_check "a modern bundle has the modern profile" e2e_p12_has_profile "$work/ca/modern-ec.p12" "$work/pw" modern
    e2e_check "a compat bundle has the compat profile" e2e_p12_has_profile "$work/ca/compat-rsa.p12" "$work/pw" compat
    e2e_check_fails "a compat bundle is not taken for a modern one" \
        e2e_p12_has_profile "$work/ca/compat-rsa.p12" "$work/pw" modern

    e2e_check "openssl signs with a modern EC bundle and verifies against the root" \
        e2e_openssl_sign_verify "$work/ca/modern-ec.p12" "$work/pw" "$root" "$addr" "$work/openssl-ok"
    e2e_check_fails "openssl verification fails against a root the certificate does not chain to" \
        e2e_openssl_sign_verify "$work/ca/modern-ec.p12" "$work/pw" "$other_root" "$addr" "$work/openssl-other-root"
    e2e_check_fails "a certificate for another address is refused" \
        e2e_openssl_sign_verify "$work/ca/modern-ec.p12" "$work/pw" "$root" "grace@$E2E_MAIL_DOMAIN" "$work/openssl-other-addr"

    e2e_check "NSS imports a modern EC bundle and signs with it" \
        e2e_nss_import_and_sign "$work/ca/modern-ec.p12" "$work/pw" "$root" "$addr" "$work/nss-ok"
    e2e_check_fails "NSS refuses a bundle with the wrong password" \
        e2e_nss_import_and_sign "$work/ca/modern-ec.p12" "$work/wrong-pw" "$root" "$addr" "$work/nss-wrong"

    e2e_check "gpgsm imports a compat RSA bundle and signs with it" \
        e2e_gpgsm_import_and_sign "$work/ca/compat-rsa.p12" "$work/pw" "$root" "$addr" "$work/gpgsm-ok"
    e2e_check_fails "gpgsm refuses a bundle with the wrong password" \
        e2e_gpgsm_import_and_sign "$work/ca/compat-rsa.p12" "$work/wrong-pw" "$root" "$addr" "$work/gpgsm-wrong"
    e2e_check_fails "gpgsm will not sign when the certificate does not chain to the trusted root" \
        e2e_gpgsm_import_and_sign "$work/ca/compat-rsa.p12" "$work/pw" "$other_root" "$addr" "$work/gpgsm-other-root"
}

# Proves e2e_take_delivery (product.sh) on mails whose content is known: a bundle mail with the
# bundle attached and a password mail in the product's wording go through Postfix and IMAP, and
# the bundle taken apart imports with the password taken from the other mail; a bundle mail that
# carries its password is caught.
e2e_delivery_selftest() {
    local work=$E2E_DIR/client-selftest
    local good=gina@$E2E_MAIL_DOMAIN leaky=hank@$E2E_MAIL_DOMAIN
    e2e_testca_bundle "$work/ca" "$good" ec modern "$work/pw" gina
    local p12=$work/ca/gina.p12
    printf 'Your certificate is attached.\n' >"$work/bundle-body.txt"
    printf 'Hello,\n\n  Password:  %s\n\nType it exactly as shown.\n' "$(cat "$work/pw")" >"$work/password-body.txt"
    cat "$work/bundle-body.txt" "$work/password-body.txt" >"$work/leaky-body.txt"

    local a body
    for a in "$good" "$leaky"; do
        e2e_add_mailbox "$a"
        body=$work/bundle-body.txt
        [ "$a" = "$leaky" ] && body=$work/leaky-body.txt
        "$E2E_PY" "$E2E_LIB/mail.py" send --port "$E2E_SMTP_PORT" --sender "pki@$E2E_MAIL_DOMAIN" --to "$a" \
            --subject "e2e: Your S/MIME certificate" --body-file "$body" \
            --attach "$p12" --attach-type application/pkcs12 --attach-name "$a.p12"
        "$E2E_PY" "$E2E_LIB/mail.py" send --port "$E2E_SMTP_PORT" --sender "pki@$E2E_MAIL_DOMAIN" --to "$a" \
            --subject "e2e: Password for your S/MIME certificate" --body-file "$work/password-body.txt"
    done
    e2e_postfix_wait_queue_empty

    local dir=$work/inbox-good
    mkdir -p "$dir" && chmod 0700 "$dir"
    e2e_imap_fetch "$good" "$dir" 2 >/dev/null
    E2E_TAKE_OWN=1 e2e_take_delivery "$good" "$dir"
    e2e_check "the attachment taken from IMAP is byte for byte the bundle sent" cmp -s "$dir/bundle.p12" "$p12"
    e2e_check "the password taken from the password mail is the bundle's" cmp -s "$dir/password" "$work/pw"
    e2e_check "the bundle taken from IMAP imports into NSS with that password" \
        e2e_nss_import_and_sign "$dir/bundle.p12" "$dir/password" "$work/ca/root.pem" "$good" "$dir/nss"

    dir=$work/inbox-leaky
    mkdir -p "$dir" && chmod 0700 "$dir"
    e2e_imap_fetch "$leaky" "$dir" 2 >/dev/null
    E2E_TAKE_OWN=1 e2e_check_fails "a bundle mail that carries the password is caught" \
        e2e_subshell e2e_take_delivery "$leaky" "$dir"
}
