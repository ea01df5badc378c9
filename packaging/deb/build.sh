#!/bin/sh
# Builds gocm_<version>_<arch>.deb from this checkout, offline, with Debian's own tools:
# the compiled app and its production node_modules under /usr/lib/gocm, wrappers in
# /usr/bin, the systemd units, sysusers and tmpfiles snippets, and /etc/gocm/gocm.env.
# Usage: npm run build && packaging/deb/build.sh [OUTDIR]   (default packaging/deb/build)
set -eu
# Modes in the package come from the files copied: keep them readable by the gocm user.
umask 022

here=$(cd "$(dirname "$0")" && pwd -P)
repo=$(cd "$here/../.." && pwd -P)
out=${1:-$here/build}

die() {
  echo "build.sh: $*" >&2
  exit 1
}

for tool in dpkg-deb dpkg node npm; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is missing (apt-get install dpkg nodejs npm)"
done
for cli in gocmd gocmctl; do
  [ -f "$repo/dist/src/cli/$cli.js" ] || die "dist/src/cli/$cli.js is missing: run npm run build first"
done
[ -d "$repo/node_modules/better-sqlite3" ] || die "node_modules is missing: run npm ci first"

version=$(node -p "require('$repo/package.json').version")
# better-sqlite3 is a native module: the package is only good for this architecture and
# for the Node.js ABI it was compiled against.
arch=$(dpkg --print-architecture)
node_major=$(node -p 'process.versions.node.split(".")[0]')
node_abi=$(node -p 'process.versions.modules')

mkdir -p "$out"
root=$(mktemp -d "$out/root.XXXXXX")
chmod 0755 "$root"
trap 'rm -rf "$root"' EXIT
app=$root/usr/lib/gocm

# The app: compiled sources (no tests, no source maps pointing at files we do not ship).
mkdir -p "$app/dist" "$app/bin"
cp -R "$repo/dist/src" "$app/dist/src"
find "$app/dist" -name '*.map' -delete
cp "$repo/bin/gocmd.js" "$repo/bin/gocmctl.js" "$app/bin/"
cp "$repo/package.json" "$app/"

# Production dependencies, as npm resolves them from the lock and the installed tree: copy
# each package without its nested node_modules (nested production packages are listed on
# their own), so nothing a developer installed comes along. Sorted: parents first.
if ! (cd "$repo" && npm ls --omit=dev --all --parseable) >"$root/prod" 2>"$root/npm-ls.err"; then
  cat "$root/npm-ls.err" >&2
  die "npm ls found problems in node_modules: run npm ci first"
fi
sed -n "s|^$repo/node_modules/|node_modules/|p" "$root/prod" | sort | while read -r pkg; do
  mkdir -p "$app/$pkg"
  cp -R "$repo/$pkg/." "$app/$pkg/"
  rm -rf "$app/$pkg/node_modules"
done
rm "$root/prod" "$root/npm-ls.err"
# better-sqlite3 needs its compiled addon at run time, not the SQLite sources or objects.
sqlite=$app/node_modules/better-sqlite3
addon=$sqlite/build/Release/better_sqlite3.node
[ -f "$addon" ] || die "better-sqlite3 has no compiled addon: run npm ci (it builds it)"
mv "$addon" "$root/addon.node"
rm -rf "$sqlite/build" "$sqlite/deps" "$sqlite/src"
mkdir -p "$sqlite/build/Release"
mv "$root/addon.node" "$addon"

# Whatever modes the checkout had, the gocm user must read everything and write nothing.
chmod -R u+rwX,go+rX,go-w "$app"

# Wrappers: they find the app beside themselves (../lib/gocm), so an unpacked copy runs too;
# exec keeps node the main PID, which Type=notify and signals expect.
mkdir -p "$root/usr/bin"
for cli in gocmd gocmctl; do
  cat >"$root/usr/bin/$cli" <<EOF
#!/bin/sh
# $cli from the gocm package: runs the app in /usr/lib/gocm with Node.js $node_major from PATH.
command -v node >/dev/null 2>&1 || { echo "$cli: Node.js $node_major is needed as node on PATH" >&2; exit 1; }
app=\$(dirname "\$(readlink -f "\$0")")/../lib/gocm
exec node "\$app/bin/$cli.js" "\$@"
EOF
  chmod 0755 "$root/usr/bin/$cli"
done

# systemd, users, directories, settings, documentation.
install -D -m 0644 "$repo/packaging/systemd/gocm.service" "$root/usr/lib/systemd/system/gocm.service"
install -D -m 0644 "$repo/packaging/systemd/gocm.socket" "$root/usr/lib/systemd/system/gocm.socket"
install -D -m 0644 "$repo/packaging/sysusers.d/gocm.conf" "$root/usr/lib/sysusers.d/gocm.conf"
install -D -m 0644 "$repo/packaging/tmpfiles.d/gocm.conf" "$root/usr/lib/tmpfiles.d/gocm.conf"
install -D -m 0640 "$repo/packaging/gocm.env" "$root/etc/gocm/gocm.env"
install -D -m 0644 "$repo/README.md" "$root/usr/share/doc/gocm/README.md"
install -D -m 0644 "$repo/LICENSE" "$root/usr/share/doc/gocm/copyright"

# Control files. Node.js is recommended, not required: a node from outside Debian (NodeSource,
# a tarball) satisfies the wrappers but no dpkg dependency, and Debian's own nodejs is 18 on
# bookworm. The wrappers say what is missing at run time.
mkdir -p "$root/DEBIAN"
cp "$here/postinst" "$here/prerm" "$here/postrm" "$root/DEBIAN/"
chmod 0755 "$root/DEBIAN/postinst" "$root/DEBIAN/prerm" "$root/DEBIAN/postrm"
echo /etc/gocm/gocm.env >"$root/DEBIAN/conffiles"
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
cat >"$root/DEBIAN/control" <<EOF
Package: gocm
Version: $version
Architecture: $arch
Maintainer: The gocm authors <gocm@localhost>
Section: net
Priority: optional
Installed-Size: $size
Depends: libc6, libstdc++6, systemd | adduser
Recommends: nodejs (>= 20.19), nodejs (<< $((node_major + 1)))
Description: local push-notification spooler for Firebase Cloud Messaging
 Programs on this host hand gocm notifications over a Unix socket, one JSON
 object per line; gocmd answers at once, keeps them in a SQLite spool and
 delivers them to FCM in the background, retrying what can be retried.
 gocmctl sends and reports from the shell.
 .
 Needs Node.js $node_major as node on PATH: the SQLite module was compiled
 for its ABI ($node_abi).
EOF

deb=$out/gocm_${version}_${arch}.deb
dpkg-deb --build --root-owner-group "$root" "$deb" >/dev/null
echo "$deb"
