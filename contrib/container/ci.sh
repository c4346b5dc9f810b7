#!/usr/bin/env bash
# CI for the container image (contrib/container/Dockerfile), with no registry: the runtime base is
# made here with debootstrap from the Debian mirror and imported into podman; the binary is the
# release build of this checkout (the Dockerfile's target `release-prebuilt`), since no Rust image
# can be pulled. Then the image is started on its shipped config (embedded simulator, file
# transport), confined as compose.yaml confines it, with named volumes for state, spool, the
# maildir tree and the outbox; a mailbox created in the maildir volume must end with its bundle and
# password mails in the outbox volume, with the owners and modes of the Debian package.
#
# Needs root (as .ci/run runs). Installs podman, runc, debootstrap, docker-compose (to check
# compose.yaml), binutils (strip), python3 and openssl (to open the mails) if missing.
# Everything is bounded: each step has a timeout, the delivery wait a fixed number of polls.
# Environment: SMIME_CI_STORE (podman's store for this script), SMIME_CI_MIRROR (Debian mirror),
# SMIME_CI_REBUILD_BASE=1 (make the base anew), SMIME_CI_BINARY=PATH (use this binary instead of
# building the release one; for trying changes quickly).
set -Eeuo pipefail
cd "$(dirname "$0")/../.."

START=$(date +%s)
say() { echo "container-ci ($(( $(date +%s) - START ))s): $*"; }
fail() { echo "container-ci: FAIL: $*" >&2; exit 1; }
trap 'echo "container-ci: FAIL: line $LINENO: $BASH_COMMAND exited $?" >&2' ERR

# Why these engine settings (found on the CI machine, a VM with hybrid cgroups v1/v2):
# - crun refuses hybrid cgroups ("cgroups in hybrid mode not supported"); runc runs there.
# - root lacks CAP_SYS_RESOURCE, so podman's default rlimits (nofile 1048576, nproc 32768)
#   cannot be set ("setrlimit RLIMIT_NOFILE: Operation not permitted"); ask for less (the unit
#   sets LimitNOFILE=8192 too).
# - no bridge network (it needs iptables NAT rules on the host, and netavark failed there without
#   iptables): builds use the host network (apt inside the build), the daemon runs with no
#   network at all (it needs none on this config).
# - podman's own store stays apart from the machine's: one root for this script, kept between
#   runs for the base image; the build's intermediate images are pruned from it after each run.
STORE=${SMIME_CI_STORE:-/var/tmp/smime-provisioner-ci-store}
PODMAN=(podman --runtime runc --root "$STORE/root"
  --runroot "/run/smime-provisioner-ci-$(echo "$STORE" | cksum | cut -d' ' -f1)")
LIMITS=(--ulimit nofile=8192:8192 --ulimit nproc=4096:4096)

MIRROR=${SMIME_CI_MIRROR:-http://deb.debian.org/debian}
SUITE=$(. /etc/os-release && echo "${VERSION_CODENAME:?}")
BASE=localhost/smime-provisioner-ci-base:$SUITE
IMAGE=localhost/smime-provisioner:ci
RUN_ID=smime-provisioner-ci-$$
WORK=$(mktemp -d /var/tmp/smime-provisioner-ci.XXXXXX)

cleanup() {
  "${PODMAN[@]}" rm -f -t 5 "$RUN_ID" >/dev/null 2>&1 || true
  for v in state spool mail outbox; do
    "${PODMAN[@]}" volume rm -f "$RUN_ID-$v" >/dev/null 2>&1 || true
  done
  "${PODMAN[@]}" rmi -f "$IMAGE" >/dev/null 2>&1 || true
  "${PODMAN[@]}" image prune -f >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

install_tools() {
  local missing=()
  command -v podman >/dev/null || missing+=(podman)
  command -v runc >/dev/null || missing+=(runc)
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  command -v docker-compose >/dev/null || missing+=(docker-compose)
  command -v strip >/dev/null || missing+=(binutils)
  command -v python3 >/dev/null || missing+=(python3)
  command -v openssl >/dev/null || missing+=(openssl)
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]}"
    timeout 300 apt-get -o DPkg::Lock::Timeout=120 update -qq
    DEBIAN_FRONTEND=noninteractive timeout 600 apt-get -o DPkg::Lock::Timeout=120 install -y -qq \
      --no-install-recommends "${missing[@]}" uidmap >/dev/null
  fi
}

# The runtime base: Debian minbase of the host's release (so the host-built binary's glibc and
# libssl match), kept between runs for a week; ~1 minute to make.
make_base() {
  local created
  created=$("${PODMAN[@]}" image inspect --format '{{.Created.Unix}}' "$BASE" 2>/dev/null || echo 0)
  if [ "${SMIME_CI_REBUILD_BASE:-0}" != 1 ] && [ $(( $(date +%s) - created )) -lt 604800 ]; then
    say "reusing base image $BASE"
    return
  fi
  say "debootstrap --variant=minbase $SUITE from $MIRROR"
  timeout 600 debootstrap --variant=minbase "$SUITE" "$WORK/rootfs" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 \
    || { tail -20 "$WORK/debootstrap.log"; fail "debootstrap failed"; }
  tar -C "$WORK/rootfs" -c . | timeout 300 "${PODMAN[@]}" import - "$BASE" >/dev/null
  rm -rf "$WORK/rootfs"
}

build_image() {
  local binary=${SMIME_CI_BINARY:-}
  if [ -z "$binary" ]; then
    # The same build as packaging's, so that one of the two reuses the other's.
    say "cargo build --release --locked --bin smime-provisioner"
    timeout 2400 cargo build --release --locked --quiet --bin smime-provisioner
    binary=target/release/smime-provisioner
  fi
  mkdir -p "$WORK/bin"
  strip --strip-unneeded -o "$WORK/bin/smime-provisioner" "$binary"
  chmod 0755 "$WORK/bin/smime-provisioner"
  say "podman build (runtime from $BASE, binary from the host: target release-prebuilt)"
  timeout 600 "${PODMAN[@]}" build --pull=never --no-cache --network host "${LIMITS[@]}" \
    -f contrib/container/Dockerfile --ignorefile contrib/container/Dockerfile.dockerignore \
    --build-arg RUNTIME_IMAGE="$BASE" --target release-prebuilt \
    --build-context prebuilt-bin="$WORK/bin" -t "$IMAGE" . >"$WORK/build.log" 2>&1 \
    || { tail -30 "$WORK/build.log"; fail "podman build failed"; }
}

# A command in a throwaway container of the image (as its non-root user unless told otherwise).
in_image() { timeout 120 "${PODMAN[@]}" run --rm "${LIMITS[@]}" --network none "$@"; }

check_image() {
  local id modes
  id=$(in_image --entrypoint id "$IMAGE")
  [ "$id" = "uid=10001(smime-provisioner) gid=10001(smime-provisioner) groups=10001(smime-provisioner),10002(smime-hook)" ] \
    || fail "image user: $id"
  modes=$(in_image --entrypoint stat "$IMAGE" -c '%n %a %U %G' \
    /var/lib/smime-provisioner /var/lib/smime-provisioner/outbox /var/spool/smime-provisioner \
    /etc/smime-provisioner/config.toml /usr/bin/smime-provisioner)
  [ "$modes" = "/var/lib/smime-provisioner 700 smime-provisioner smime-provisioner
/var/lib/smime-provisioner/outbox 700 smime-provisioner smime-provisioner
/var/spool/smime-provisioner 2770 smime-provisioner smime-hook
/etc/smime-provisioner/config.toml 644 root root
/usr/bin/smime-provisioner 755 root root" ] || fail "image paths and modes: $modes"
  in_image "$IMAGE" check-config >"$WORK/check-config.log" 2>&1 \
    || { cat "$WORK/check-config.log"; fail "check-config on the shipped config"; }
  say "image ok: user, groups, paths, modes; check-config passes on the shipped config"
}

mountpoint_of() { "${PODMAN[@]}" volume inspect --format '{{.Mountpoint}}' "$RUN_ID-$1"; }

# Start the sidecar as compose.yaml does (read-only root, not even a writable /tmp, no
# capabilities, no new privileges), with no network: the simulator runs in-process and mail goes to the outbox volume.
start_sidecar() {
  for v in state spool mail outbox; do "${PODMAN[@]}" volume create "$RUN_ID-$v" >/dev/null; done
  timeout 120 "${PODMAN[@]}" run -d --name "$RUN_ID" "${LIMITS[@]}" --network none \
    --read-only --read-only-tmpfs=false --cap-drop ALL --security-opt no-new-privileges \
    -v "$RUN_ID-mail:/var/vmail:ro" \
    -v "$RUN_ID-state:/var/lib/smime-provisioner" \
    -v "$RUN_ID-spool:/var/spool/smime-provisioner" \
    -v "$RUN_ID-outbox:/var/lib/smime-provisioner/outbox" \
    "$IMAGE" >/dev/null
  # The mail server creates a mailbox in the shared maildir volume.
  mkdir -p "$(mountpoint_of mail)/example.com/alice/new"
}

# The bundle mail and then the password mail to ADDRESS; 90 polls of 2 s at most.
wait_for_mails() {
  local address=$1 outbox n=0 i
  outbox=$(mountpoint_of outbox)
  for i in $(seq 1 90); do
    n=$({ grep -lE "^To: $address"$'\r?$' "$outbox"/*.eml 2>/dev/null || true; } | wc -l)
    [ "$n" -ge 2 ] && break
    [ "$("${PODMAN[@]}" inspect --format '{{.State.Running}}' "$RUN_ID")" = true ] \
      || { "${PODMAN[@]}" logs "$RUN_ID" | tail -30; fail "the daemon exited"; }
    sleep 2
  done
  [ "$n" -eq 2 ] || { "${PODMAN[@]}" logs "$RUN_ID" | tail -30; fail "$n mails to $address in the outbox volume, expected 2"; }
  open_bundle "$address" "$outbox"
}

# The bundle opens with the password from the other mail, and holds ADDRESS's certificate and key.
open_bundle() {
  local address=$1 outbox=$2
  python3 - "$address" "$outbox" "$WORK/bundle.p12" "$WORK/password" <<'PY'
import email, email.policy, pathlib, re, sys
address = sys.argv[1]
outbox, p12, password = (pathlib.Path(a) for a in sys.argv[2:])
bundles, passwords = [], []
for path in sorted(outbox.glob("*.eml")):
    msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    if msg["To"] != address:
        continue
    parts = [p for p in msg.walk() if p.get_content_type() == "application/pkcs12"]
    if parts:
        bundles.append(parts[0].get_content())
    else:
        text = msg.get_body(preferencelist=("plain",)).get_content()
        passwords += re.findall(r"\b[0-9a-z]{4}(?:-[0-9a-z]{4}){3,}\b", text)
if len(bundles) != 1 or len(passwords) != 1:
    sys.exit(f"{address}: expected one bundle and one password, found {len(bundles)} and {len(passwords)}")
p12.write_bytes(bundles[0])
password.write_text(passwords[0])
PY
  openssl pkcs12 -in "$WORK/bundle.p12" -passin "file:$WORK/password" -nodes -out "$WORK/bundle.pem" \
    || fail "$address: the bundle does not open with the password from the password mail"
  grep -q 'PRIVATE KEY' "$WORK/bundle.pem" || fail "$address: no private key in the bundle"
  openssl pkcs12 -in "$WORK/bundle.p12" -passin "file:$WORK/password" -clcerts -nokeys \
    | openssl x509 -noout -ext subjectAltName | grep -q "email:$address" \
    || fail "$address: the certificate is for another address"
  say "$address: bundle and password mails in the outbox volume; the bundle opens with the mailed password (key and certificate for $address)"
}

# The hook, as a PostfixAdmin container would run it: another container sharing only the spool
# volume, as an unrelated user (33, www-data) whose one tie to the daemon is the group smime-hook.
hook_enqueue() {
  timeout 120 "${PODMAN[@]}" run --rm "${LIMITS[@]}" --network none --read-only --read-only-tmpfs=false \
    --cap-drop ALL --security-opt no-new-privileges --user 33:10002 \
    -v "$RUN_ID-spool:/var/spool/smime-provisioner" "$IMAGE" enqueue "$1" \
    || fail "enqueue $1 from a hook container"
  say "enqueued $1 from a hook container as uid 33, group smime-hook"
}

check_volumes() {
  local state spool outbox
  state=$(stat -c '%a %u %g' "$(mountpoint_of state)")
  spool=$(stat -c '%a %u %g' "$(mountpoint_of spool)")
  outbox=$(stat -c '%a %u %g' "$(mountpoint_of outbox)")
  [ "$state" = "700 10001 10001" ] || fail "state volume: $state"
  [ "$spool" = "2770 10001 10002" ] || fail "spool volume: $spool"
  [ "$outbox" = "700 10001 10001" ] || fail "outbox volume: $outbox"
  [ -z "$(find "$(mountpoint_of outbox)" "$(mountpoint_of state)" -type f -perm /077)" ] \
    || fail "files group or others can read: $(find "$(mountpoint_of state)" -type f -perm /077)"
  timeout 60 "${PODMAN[@]}" exec "$RUN_ID" smime-provisioner status >"$WORK/status.log" \
    || { cat "$WORK/status.log"; fail "status beside the daemon"; }
  grep -q '^alice@example.com  *delivered' "$WORK/status.log" && grep -q '^bob@example.org  *delivered' "$WORK/status.log" \
    || { cat "$WORK/status.log"; fail "status"; }
  [ "$(find "$(mountpoint_of outbox)" -name '*.eml' | wc -l)" -eq 4 ] || fail "mails other than the four expected"
  say "volumes ok: state 0700, spool 2770 smime-hook, outbox 0700, every file 0600; status: both delivered"
}

stop_sidecar() {
  local rc
  timeout 90 "${PODMAN[@]}" stop -t 60 "$RUN_ID" >/dev/null
  rc=$("${PODMAN[@]}" inspect --format '{{.State.ExitCode}}' "$RUN_ID")
  [ "$rc" = 0 ] || { "${PODMAN[@]}" logs "$RUN_ID" | tail -20; fail "exit code $rc after SIGTERM"; }
  say "stopped on SIGTERM, exit code 0"
}

# compose.yaml is parsed and checked against the compose schema; it cannot be started here (the
# mail server image cannot be pulled).
check_compose() {
  (cd contrib/container && timeout 60 docker-compose -f compose.yaml config -q) || fail "compose.yaml is invalid"
  say "compose.yaml valid (docker-compose config)"
}

install_tools
check_compose
make_base
build_image
check_image
start_sidecar
wait_for_mails alice@example.com
hook_enqueue bob@example.org
wait_for_mails bob@example.org
check_volumes
stop_sidecar
say "ok"
