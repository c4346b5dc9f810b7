#!/bin/sh
# PostfixAdmin `mailbox_postcreation_script` wrapper for smime-provisioner.
#
# PostfixAdmin calls it, as the web server's user and inside the admin's web request, with
#   $1 full address   $2 domain   $3 maildir path as stored   $4 quota
# (model/MailboxHandler.php, mailbox_post_script). It records a request in the daemon's spool
# with `smime-provisioner enqueue ADDRESS` and returns at once; the daemon orders the
# certificate later. It never orders anything inline: the web request must stay fast, and a
# retry of the web form must not cost money twice.
#
# Exit status (PostfixAdmin logs a non-zero status and shows it to the admin; the mailbox
# stays created either way):
#   0  request recorded
#   1  smime-provisioner is missing or could not record the request
#   2  the address is missing or invalid (enqueue's own exit code 2 is passed through too)
#
# Settings, from the environment (e.g. set in the sudo rule or the web server's pool):
#   SMIME_PROVISIONER          path of the binary (default: smime-provisioner on PATH)
#   SMIME_PROVISIONER_CONFIG   config file (read by smime-provisioner itself)
#
# Install: see README.md next to this file.
set -u

me=mailbox-postcreation.sh
address=${1-}
domain=${2-}

fail_usage() {
    echo "$me: $1" >&2
    exit 2
}

[ -n "$address" ] || fail_usage "no address given (PostfixAdmin passes it as the first argument)"

# A cheap shape check before starting the binary; smime-provisioner validates fully.
case $address in
    -*) fail_usage "refusing $address: an address cannot start with '-'" ;;
    *[[:space:][:cntrl:]]*) fail_usage "refusing the address: it contains spaces or control characters" ;;
    *@*@*) fail_usage "refusing $address: more than one '@'" ;;
    ?*@?*) ;;
    *) fail_usage "refusing $address: not of the form local@domain" ;;
esac

# PostfixAdmin passes the domain separately; a mismatch means the call is not what we think.
if [ -n "$domain" ]; then
    addr_domain=$(printf '%s' "${address##*@}" | tr '[:upper:]' '[:lower:]')
    arg_domain=$(printf '%s' "$domain" | tr '[:upper:]' '[:lower:]')
    [ "$addr_domain" = "$arg_domain" ] ||
        fail_usage "refusing $address: its domain is not the domain argument $domain"
fi

bin=${SMIME_PROVISIONER:-smime-provisioner}
if ! command -v "$bin" >/dev/null 2>&1; then
    echo "$me: $bin not found; install smime-provisioner or set SMIME_PROVISIONER" >&2
    exit 1
fi

"$bin" enqueue -- "$address"
status=$?
case $status in
    0) exit 0 ;;
    2) echo "$me: smime-provisioner refused $address as invalid" >&2; exit 2 ;;
    *) echo "$me: smime-provisioner enqueue failed with status $status" >&2; exit 1 ;;
esac
