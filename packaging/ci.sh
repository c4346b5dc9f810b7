#!/usr/bin/env bash
# CI step for the Debian package (called once from .ci/run), as root on the CI machine:
#   1. packaging/build.sh: release binary, .deb, tarball, checksums (one release build);
#   2. lintian: no error and no warning;
#   3. dpkg -i: the user, the group, paths and modes; the unit is neither enabled nor running;
#      `man smime-provisioner` renders and the installed bash completion loads; the unit and the
#      sendmail drop-in pass `systemd-analyze verify` (this machine does not boot systemd, so
#      the sandbox itself is not started here); Postfix's sendmail as the service user with
#      no-new-privileges, the spool read-only but the maildrop (the drop-in's settings, in a
#      private mount namespace): refused without the group postdrop, queued with it;
#   4. check-config on the installed conffile, as the service user;
#   5. the daemon as the service user (runuser, not systemd) on the shipped config until a
#      new maildir mailbox and a hook-enqueued one are delivered to the outbox; then stopped;
#   6. dpkg -r keeps config, state and spool; dpkg -P removes them (the user and group stay).
# Every wait is bounded. Refuses to run where the package is already installed or its
# directories exist, so it never touches a real installation.
set -euo pipefail
cd "$(dirname "$0")/.."

pkg=smime-provisioner
state=/var/lib/$pkg
spool=/var/spool/$pkg
maildir_root=/var/vmail
outbox=$state/outbox

fail() { echo "packaging/ci.sh: FAIL: $*" >&2; exit 1; }
ok() { echo "packaging/ci.sh: ok: $*"; }

# --- tools -------------------------------------------------------------------------------------
tools=(dpkg-dev lintian man-db groff-base adduser binutils init-system-helpers systemd postfix)
missing=()
for p in "${tools[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "packaging/ci.sh: installing ${missing[*]}" >&2
    # Postfix only for its sendmail/postdrop: no system-wide mail configuration, nothing started.
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        -o DPkg::Lock::Timeout=300 "${missing[@]}"
fi

if dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "installed\|config-files"; then
    fail "$pkg is installed on this machine; not touching a real installation"
fi
for d in "$state" "$spool" /etc/$pkg; do
    [ ! -e "$d" ] || fail "$d exists; not touching a real installation"
done

# dpkg, waiting (bounded) while another dpkg or apt holds the lock.
dpkg_locked() {
    local i out
    for i in $(seq 60); do
        if out=$(dpkg "$@" 2>&1); then echo "$out"; return 0; fi
        case $out in *"lock"*) sleep 5 ;; *) echo "$out" >&2; return 1 ;; esac
    done
    echo "$out" >&2
    return 1
}

created_maildir_root=
daemon_pid=
cleanup() {
    [ -z "$daemon_pid" ] || kill "$daemon_pid" 2>/dev/null || true
    if dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "installed\|config-files"; then
        dpkg_locked -P "$pkg" >/dev/null || true
    fi
    [ -z "$created_maildir_root" ] || rm -rf "$maildir_root"
}
trap cleanup EXIT

# --- 1. build ----------------------------------------------------------------------------------
dist=target/dist
rm -rf "$dist"
packaging/build.sh "$dist"
deb=$(ls "$dist"/${pkg}_*.deb)
tarball=$(ls "$dist"/$pkg-*.tar.gz)
(cd "$dist" && sha256sum -c --quiet ./*.sha256) || fail "checksums do not match"
tar -tzf "$tarball" | sed 's|^[^/]*/||' | sort >"$dist/tar-list"
for f in smime-provisioner systemd/smime-provisioner.service config.example.toml config.toml \
    LICENSE-MIT LICENSE-APACHE man/man1/smime-provisioner.1 completions/smime-provisioner.bash \
    completions/_smime-provisioner completions/smime-provisioner.fish \
    systemd/smime-provisioner.service.d/sendmail.conf; do
    grep -qx "$f" "$dist/tar-list" || fail "tarball lacks $f"
done
ok "built $(basename "$deb") and $(basename "$tarball") with checksums"

# --- 2. lintian ----------------------------------------------------------------------------------
timeout 600 lintian --fail-on error,warning --display-info "$deb" || fail "lintian"
ok "lintian: no errors, no warnings"

# --- 3. install and check what the package made -------------------------------------------------
dpkg_locked -i "$deb"
expect_stat() { # PATH MODE OWNER GROUP
    local got
    got=$(stat -c '%a %U %G' "$1") || fail "$1 missing"
    [ "$got" = "$2 $3 $4" ] || fail "$1 is '$got', expected '$2 $3 $4'"
}
expect_stat /usr/bin/$pkg 755 root root
expect_stat /etc/$pkg/config.toml 644 root root
expect_stat /lib/systemd/system/$pkg.service 644 root root
expect_stat "$state" 700 $pkg $pkg
expect_stat "$spool" 2770 $pkg smime-hook
expect_stat /etc/$pkg/credentials 700 $pkg $pkg
IFS=: read -r _ _ uid _ _ home shell < <(getent passwd $pkg) || fail "no user $pkg"
[ "$uid" -lt 1000 ] && [ "$home" = "$state" ] && [ "$shell" = /usr/sbin/nologin ] ||
    fail "user $pkg: uid $uid, home $home, shell $shell"
getent group smime-hook >/dev/null || fail "no group smime-hook"
id -nG $pkg | tr ' ' '\n' | grep -qx smime-hook || fail "$pkg is not in smime-hook"
grep -qx "/etc/$pkg/config.toml" /var/lib/dpkg/info/$pkg.conffiles || fail "config.toml is no conffile"
[ ! -e /etc/systemd/system/multi-user.target.wants/$pkg.service ] || fail "the unit was enabled"
! pgrep -u $pkg >/dev/null || fail "something runs as $pkg after install"
ok "dpkg -i: user, group, paths, modes; unit neither enabled nor started"

man -P cat $pkg 2>&1 | grep -q "EXIT STATUS" || fail "man $pkg does not render"
bash -c "source /usr/share/bash-completion/completions/$pkg && complete -p $pkg" >/dev/null ||
    fail "the installed bash completion does not load"
ok "man page renders, bash completion loads"

# The unit as installed, and with the sendmail drop-in beside it (verify reads UNIT.d/ next to
# the unit file it is given). verify exits 0 on mere warnings, so any output is a failure.
verify_quietly() {
    local out
    out=$(SYSTEMD_LOG_LEVEL=notice systemd-analyze verify "$1" 2>&1) || fail "verify $1: $out"
    [ -z "$out" ] || fail "verify $1: $out"
}
verify_quietly /lib/systemd/system/$pkg.service
dropin_dir=$(mktemp -d)
cp /lib/systemd/system/$pkg.service "$dropin_dir/"
install -D -m 0644 /usr/share/doc/$pkg/examples/systemd/sendmail.conf \
    "$dropin_dir/$pkg.service.d/sendmail.conf"
verify_quietly "$dropin_dir/$pkg.service"
rm -rf "$dropin_dir"
echo "packaging/ci.sh: $(systemd-analyze security --offline=true /lib/systemd/system/$pkg.service 2>/dev/null | tail -1)"
ok "systemd-analyze verify: the unit, and the unit with the sendmail drop-in"

# Postfix's sendmail as the unit runs it: the service user, no-new-privileges (so postdrop's
# setgid bit is ignored), /var/spool/postfix read-only except the maildrop (ProtectSystem=strict
# plus the drop-in's ReadWritePaths=). A private mount namespace with its own main.cf and queue,
# so the system's Postfix is not touched. The seccomp filter is not reproduced here.
sendmail_sandboxed() { # GROUPS -> exit status of sendmail; prints the number of queued files
    local groups=$1 pf rc
    pf=$(mktemp -d)
    cp -a /etc/postfix "$pf/etc"
    printf '%s\n' "compatibility_level = 3.6" "queue_directory = /var/spool/postfix" \
        "mail_owner = postfix" "setgid_group = postdrop" "myhostname = ci.invalid" >"$pf/etc/main.cf"
    install -d -o postfix -g postdrop -m 1730 "$pf/spool/maildrop"
    install -d -o postfix -g postdrop -m 2710 "$pf/spool/public"
    mkfifo -m 0620 "$pf/spool/public/pickup" && chown postfix:postdrop "$pf/spool/public/pickup"
    rc=0
    PF=$pf GROUPS_=$groups unshare -m bash -c '
        set -e
        mount --make-rprivate /
        mount --bind "$PF/etc" /etc/postfix
        mount --bind "$PF/spool" /var/spool/postfix
        mount -o remount,bind,ro /var/spool/postfix
        mount --bind "$PF/spool/maildrop" /var/spool/postfix/maildrop
        printf "Subject: ci\n\nci\n" | timeout 15 setpriv --reuid=smime-provisioner \
            --regid=smime-provisioner --groups="$GROUPS_" --no-new-privs \
            /usr/sbin/sendmail -i -f smime-provisioner postmaster' >/dev/null 2>&1 || rc=$?
    ls "$pf/spool/maildrop" | wc -l
    rm -rf "$pf"
    return $rc
}
queued=$(sendmail_sandboxed smime-hook) && fail "sendmail without the group postdrop queued mail"
[ "$queued" = 0 ] || fail "sendmail without the group postdrop left $queued files"
queued=$(sendmail_sandboxed smime-hook,postdrop) || fail "sendmail with the drop-in's group failed"
[ "$queued" = 1 ] || fail "sendmail with the drop-in's group queued $queued files, not 1"
ok "sendmail under no-new-privileges: refused without the drop-in's group, queued with it"

# --- 4. check-config as the service user ---------------------------------------------------------
runuser -u $pkg -- $pkg check-config || fail "check-config on the installed conffile"
ok "check-config on /etc/$pkg/config.toml as $pkg"

# --- 5. the daemon on the shipped config ---------------------------------------------------------
if [ ! -e "$maildir_root" ]; then
    created_maildir_root=yes
    install -d -m 0755 "$maildir_root"
fi
install -d -m 0755 "$maildir_root/example.com" "$maildir_root/example.com/ci-alice"
# The hook as the web server would run it: another user, in group smime-hook only.
setpriv --reuid=nobody --regid=smime-hook --clear-groups \
    /usr/lib/$pkg/mailbox-postcreation.sh ci-bob@example.com example.com example.com/ci-bob/ 0 ||
    fail "the PostfixAdmin wrapper could not enqueue as nobody:smime-hook"
runuser -u $pkg -- timeout -s TERM 300 $pkg run >"$dist/daemon.log" 2>&1 &
daemon_pid=$!
# Delivered: the store says so, and the bundle mail and the password mail are in the outbox.
# (status's whole output is read first: `status | grep -q` under pipefail fails whenever grep
# stops reading early and status dies of the broken pipe.)
delivered() {
    local status
    status=$(runuser -u $pkg -- $pkg status --json "$1" 2>/dev/null) || return 1
    grep -q '"stage": "delivered"' <<<"$status" &&
        [ "$(grep -l "^To: .*$1" "$outbox"/* 2>/dev/null | wc -l)" -ge 2 ]
}
for _ in $(seq 120); do
    if delivered ci-alice@example.com && delivered ci-bob@example.com; then break; fi
    kill -0 "$daemon_pid" 2>/dev/null || { cat "$dist/daemon.log" >&2; fail "the daemon exited"; }
    sleep 1
done
delivered ci-alice@example.com && delivered ci-bob@example.com ||
    { cat "$dist/daemon.log" >&2; fail "not delivered to $outbox within 120 s"; }
kill -TERM "$daemon_pid"
wait "$daemon_pid" || true
daemon_pid=
ok "the daemon as $pkg delivered a maildir mailbox and a hook request to $outbox"
runuser -u $pkg -- $pkg status

# --- 6. remove, then purge -----------------------------------------------------------------------
dpkg_locked -r $pkg >/dev/null
[ ! -e /usr/bin/$pkg ] || fail "dpkg -r left the binary"
[ -f /etc/$pkg/config.toml ] || fail "dpkg -r removed the conffile"
[ -d "$state" ] && [ -n "$(ls -A "$state")" ] || fail "dpkg -r removed the state"
[ -d "$spool" ] || fail "dpkg -r removed the spool"
ok "dpkg -r: binary gone; config, state and spool kept"
dpkg_locked -P $pkg >/dev/null
for d in /etc/$pkg "$state" "$spool"; do
    [ ! -e "$d" ] || fail "dpkg -P left $d"
done
[ ! -e /etc/systemd/system/$pkg.service ] || fail "dpkg -P left the unit's mask"
getent passwd $pkg >/dev/null || fail "dpkg -P removed the user (Debian keeps system users)"
ok "dpkg -P: config, state and spool removed; user and group kept"
