#!/usr/bin/env bash
# Builds the release artefacts from this checkout: the release binary, the manual pages and shell
# completions generated from it, then
#   OUT/smime-provisioner_VERSION_ARCH.deb                 the Debian package (dpkg-deb)
#   OUT/smime-provisioner-VERSION-MACHINE-linux.tar.gz     the release tarball
# each with a .sha256 beside it (`sha256sum -c` format). OUT defaults to target/dist.
#
# The package: binary in /usr/bin, unit in /lib/systemd/system, conffile
# /etc/smime-provisioner/config.toml (packaging/config.toml: the embedded simulator, mail to
# files), config.example.toml, README, licences and the examples (sendmail drop-in, PostfixAdmin)
# in /usr/share/doc/smime-provisioner, the PostfixAdmin wrapper in /usr/lib/smime-provisioner,
# man pages, completions; maintainer scripts in packaging/debian/ create the user and the
# directories and never start the daemon.
#
# Usage: packaging/build.sh [OUT]
# PACKAGING_PROFILE=dev builds from the debug binary instead (quicker, for trying the scripts;
# never for a release).
# Needs: cargo, dpkg-dev (dpkg-shlibdeps), binutils (strip), gzip; packaging/ci.sh installs them.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=${1:-target/dist}
mkdir -p "$out"
out=$(cd "$out" && pwd)

name=smime-provisioner

profile=${PACKAGING_PROFILE:-release}
echo "packaging/build.sh: cargo build --profile $profile" >&2
cargo build --profile "$profile" --locked --bin "$name"
if [ "$profile" = dev ]; then bin=$root/target/debug/$name; else bin=$root/target/$profile/$name; fi
version=$("$bin" --version | awk '{print $2}')
# Timestamps inside the artefacts come from the last commit, so two builds of one commit match.
# Set after the cargo build: the cc crate tracks it, and a change rebuilds every C dependency.
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
export SOURCE_DATE_EPOCH # dpkg-deb stamps the .deb with it
arch=$(dpkg --print-architecture)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# --- generated from the binary: stripped copy, man pages, completions --------------------------
gen=$work/gen
mkdir -p "$gen/man1" "$gen/completions"
strip --strip-unneeded --remove-section=.comment --remove-section=.note -o "$gen/$name" "$bin"
"$bin" manpages --out "$gen/man1" >/dev/null
"$bin" completions bash >"$gen/completions/$name.bash"
"$bin" completions zsh >"$gen/completions/_$name"
"$bin" completions fish >"$gen/completions/$name.fish"

# put MODE SRC DEST: copies one file with its mode, creating the directories.
put() {
    install -D -m "$1" "$2" "$3"
}

# --- the Debian package ------------------------------------------------------------------------
deb=$work/deb
doc=$deb/usr/share/doc/$name
put 0755 "$gen/$name" "$deb/usr/bin/$name"
put 0644 contrib/systemd/$name.service "$deb/lib/systemd/system/$name.service"
put 0644 packaging/config.toml "$deb/etc/$name/config.toml"
put 0755 contrib/postfixadmin/mailbox-postcreation.sh "$deb/usr/lib/$name/mailbox-postcreation.sh"
for page in "$gen"/man1/*.1; do
    put 0644 "$page" "$deb/usr/share/man/man1/$(basename "$page")"
    gzip -9n "$deb/usr/share/man/man1/$(basename "$page")"
done
put 0644 "$gen/completions/$name.bash" "$deb/usr/share/bash-completion/completions/$name"
put 0644 "$gen/completions/_$name" "$deb/usr/share/zsh/vendor-completions/_$name"
put 0644 "$gen/completions/$name.fish" "$deb/usr/share/fish/vendor_completions.d/$name.fish"
put 0644 README.md "$doc/README.md"
put 0644 config.example.toml "$doc/config.example.toml"
put 0644 packaging/debian/README.Debian "$doc/README.Debian"
put 0644 packaging/debian/copyright "$doc/copyright"
put 0644 contrib/systemd/$name.service.d/sendmail.conf "$doc/examples/systemd/sendmail.conf"
put 0644 contrib/postfixadmin/README.md "$doc/examples/postfixadmin/README.md"
changelog_date=$(date -u -R -d "@$SOURCE_DATE_EPOCH")
maintainer="smime-provisioner authors <smime-provisioner@packages.invalid>"
printf '%s (%s) unstable; urgency=medium\n\n  * Built by packaging/build.sh from commit %s.\n\n -- %s  %s\n' \
    "$name" "$version" "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" \
    "$maintainer" "$changelog_date" | gzip -9n >"$doc/changelog.gz"
chmod 0644 "$doc/changelog.gz"

mkdir -p "$deb/DEBIAN"
for script in postinst prerm postrm; do
    put 0755 "packaging/debian/$script" "$deb/DEBIAN/$script"
done
echo "/etc/$name/config.toml" >"$deb/DEBIAN/conffiles"
# The shared-library dependencies of the binary, as dpkg-shlibdeps works them out (it wants a
# debian/control next to it).
mkdir -p "$work/shlibs/debian"
printf 'Source: %s\n\nPackage: %s\nArchitecture: any\n' "$name" "$name" >"$work/shlibs/debian/control"
shlibs=$(cd "$work/shlibs" && dpkg-shlibdeps -O "$deb/usr/bin/$name" | sed -n 's/^shlibs:Depends=//p')
installed_size=$(du -sk --exclude=DEBIAN "$deb" | cut -f1)
cat >"$deb/DEBIAN/control" <<EOF
Package: $name
Version: $version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $installed_size
Depends: $shlibs, adduser
Suggests: postfix
Section: mail
Priority: optional
Description: S/MIME certificates for every mailbox on a mail server
 smime-provisioner notices new mailboxes (maildir tree, LDIF export, or a hook
 from the provisioning tool such as PostfixAdmin), generates each private key
 on the host, orders a GlobalSign PersonalSign certificate through the
 InterNetX AutoDNS reseller API, and mails a password-protected PKCS#12 bundle
 to the mailbox with the password sent separately. It renews certificates
 before they expire.
 .
 As installed, the configuration uses the bundled AutoDNS simulator (no
 account, no cost) and writes mail to files, and the daemon is not started:
 edit /etc/smime-provisioner/config.toml, then enable the systemd unit.
EOF
(cd "$deb" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) \
    >"$deb/DEBIAN/md5sums"
chmod 0644 "$deb/DEBIAN/control" "$deb/DEBIAN/conffiles" "$deb/DEBIAN/md5sums"
find "$deb" -type d -exec chmod 0755 {} +
find "$deb" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
deb_file=$out/${name}_${version}_${arch}.deb
dpkg-deb --root-owner-group -Zxz --build "$deb" "$deb_file" >/dev/null

# --- the release tarball -----------------------------------------------------------------------
top=$name-$version-$(uname -m)-linux
tar_root=$work/tar/$top
put 0755 "$gen/$name" "$tar_root/$name"
put 0644 contrib/systemd/$name.service "$tar_root/systemd/$name.service"
put 0644 contrib/systemd/$name.service.d/sendmail.conf "$tar_root/systemd/$name.service.d/sendmail.conf"
put 0644 config.example.toml "$tar_root/config.example.toml"
put 0644 packaging/config.toml "$tar_root/config.toml"
put 0644 README.md "$tar_root/README.md"
put 0644 LICENSE-MIT "$tar_root/LICENSE-MIT"
put 0644 LICENSE-APACHE "$tar_root/LICENSE-APACHE"
put 0755 contrib/postfixadmin/mailbox-postcreation.sh "$tar_root/postfixadmin/mailbox-postcreation.sh"
put 0644 contrib/postfixadmin/README.md "$tar_root/postfixadmin/README.md"
for page in "$gen"/man1/*.1; do
    put 0644 "$page" "$tar_root/man/man1/$(basename "$page")"
done
for f in "$gen"/completions/*; do
    put 0644 "$f" "$tar_root/completions/$(basename "$f")"
done
tar_file=$out/$top.tar.gz
tar -C "$work/tar" --sort=name --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 --numeric-owner \
    -cf - "$top" | gzip -9n >"$tar_file"

# --- checksums ---------------------------------------------------------------------------------
for f in "$deb_file" "$tar_file"; do
    (cd "$out" && sha256sum "$(basename "$f")" >"$(basename "$f").sha256")
done
echo "$deb_file"
echo "$tar_file"
