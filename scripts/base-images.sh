#!/usr/bin/env bash
# Builds Berth's local base image, since no registry can be pulled from on these machines (MACHINE-NOTES.md):
# a Debian bookworm root filesystem (debootstrap minbase, python3, ca-certificates) with the host's Node.js and
# npm copied into /usr/local, imported with `podman import` as localhost/berth/base:bookworm. Both the Node.js
# and the Python images Berth builds start from it (the bridge in every image runs on node).
# Usage: scripts/base-images.sh [--force]
set -euo pipefail
ref="${BERTH_BASE_IMAGE:-localhost/berth/base:bookworm}"
if [ "${1:-}" != "--force" ] && podman image exists "$ref" 2>/dev/null; then
  echo "$ref exists (use --force to rebuild)"; exit 0
fi
mirror="${BERTH_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
work="$(mktemp -d /var/tmp/berth-rootfs.XXXXXX)"
trap 'rm -rf "$work"' EXIT
root="$work/root"
echo "debootstrap bookworm into $root (from $mirror)…"
debootstrap --variant=minbase --include=python3-minimal,python3,python3-venv,ca-certificates bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1 || {
  tail -n 30 "$work/debootstrap.log" >&2; exit 1; }

node_bin="$(readlink -f "$(command -v node)")"
npm_dir="$(dirname "$(readlink -f "$(command -v npm)")")/.."
npm_dir="$(cd "$npm_dir" && pwd)"
install -D -m 0755 "$node_bin" "$root/usr/local/bin/node"
mkdir -p "$root/usr/local/lib/node_modules"
cp -a "$npm_dir" "$root/usr/local/lib/node_modules/npm"
ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
# Node needs libstdc++ and libgcc_s, which minbase may lack: copy what ldd names and the root filesystem has not.
for lib in $(ldd "$node_bin" | awk '/=> \//{print $3}'); do
  [ -e "$root$lib" ] || install -D -m 0644 "$lib" "$root$lib"
done
chroot "$root" /usr/local/bin/node -e 'process.exit(0)'
chroot "$root" /usr/bin/python3 -c 'import venv, ssl'
# Smaller: no apt lists, docs or caches in the image.
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/locale/*

tar -C "$root" -cf "$work/rootfs.tar" .
podman import --change 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/bin:/usr/sbin:/bin:/sbin' --change 'CMD ["/bin/sh"]' "$work/rootfs.tar" "$ref" >/dev/null
echo "built $ref ($(podman image inspect "$ref" --format '{{.Size}}') bytes)"
