#!/usr/bin/env bash
# Runs the test suite. Installs the Debian packages the tests drive for real (openssl, NSS
# pk12util, gpgsm, an SMTP server, OpenLDAP) when they are missing, then `cargo test`.
# Usage: scripts/test.sh [extra cargo test arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(openssl libnss3-tools gpgsm gpg-agent python3-aiosmtpd python3-prometheus-client slapd ldap-utils libsqlite3-dev libssl-dev pkg-config man-db groff-base)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "scripts/test.sh: installing ${missing[*]}" >&2
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  # slapd must not configure or start a system-wide directory.
  echo "slapd slapd/no_configuration boolean true" | "${sudo_cmd[@]}" debconf-set-selections
  "${sudo_cmd[@]}" apt-get update -q
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# --no-fail-fast: one failing test binary must not hide failures in the others.
exec cargo test --no-fail-fast "$@"
