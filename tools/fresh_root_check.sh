#!/usr/bin/env bash
# Runs the README's two commands as a newcomer would: in a minimal Debian 12 root
# (debootstrap --variant=minbase bookworm) holding nothing but a clone of this repository's
# committed HEAD. A development machine or CI already carries packages a newcomer lacks, so
# this is how set-up changes are verified. Not part of CI: it needs root, a few GB of disk
# and the Debian mirror this machine's apt uses.
#
#   sudo bash tools/fresh_root_check.sh            # tools/run.sh, then tools/test.sh
#   sudo bash tools/fresh_root_check.sh run        # only tools/run.sh
#   sudo bash tools/fresh_root_check.sh test       # only tools/test.sh
#   sudo bash tools/fresh_root_check.sh packages   # only what tools/test.sh installs: both builds
#                                                  # configure, every file they found is from a
#                                                  # listed package, clang links an ASan+UBSan
#                                                  # libFuzzer program (minutes, not an hour)
#
# The minimal root is made once and kept as a tarball in $FRESH_ROOT_CACHE
# (default /var/tmp/onnx-train-fresh-root); every check unpacks a new copy of it, so no
# check sees what an earlier one installed. Each command's output goes to
# $FRESH_ROOT_CACHE/last/<command>.log, with its time and exit status on the last lines.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${FRESH_ROOT_CACHE:-/var/tmp/onnx-train-fresh-root}"
WHAT="${1:-both}"
case "$WHAT" in both | run | test | packages) ;; *) echo "usage: $0 [both|run|test|packages]" >&2; exit 2 ;; esac
if [ "$(id -u)" -ne 0 ]; then echo "$0: needs root (debootstrap and chroot)" >&2; exit 2; fi

# The mirror this machine's apt already uses (deb822 or one-line sources).
mirror="$(grep -h -o -E '^URIs: *[^ ]+/debian/?$' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1 |
  sed -E 's/^URIs: *//' || true)"
if [ -z "$mirror" ]; then
  mirror="$(grep -h -o -E '^deb +[^ ]+/debian/? +bookworm' /etc/apt/sources.list 2>/dev/null | head -n1 |
    awk '{print $2}' || true)"
fi
mirror="${mirror:-http://deb.debian.org/debian}"

mkdir -p "$CACHE"
if [ ! -f "$CACHE/base.tar" ]; then
  command -v debootstrap >/dev/null || { apt-get update -qq && apt-get install -y -qq debootstrap; }
  echo "fresh root: debootstrap --variant=minbase bookworm from $mirror (once)"
  rm -rf "$CACHE/base"
  debootstrap --variant=minbase bookworm "$CACHE/base" "$mirror" >"$CACHE/debootstrap.log" 2>&1 ||
    { tail -n 20 "$CACHE/debootstrap.log"; exit 1; }
  tar -C "$CACHE/base" -cf "$CACHE/base.tar.partial" . && mv "$CACHE/base.tar.partial" "$CACHE/base.tar"
  rm -rf "$CACHE/base"
fi

ROOT="$CACHE/last/root"
mounts=()
cleanup() {
  for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do umount -l "${mounts[$i]}" 2>/dev/null || true; done
}
trap cleanup EXIT
rm -rf "$CACHE/last"
mkdir -p "$ROOT"
tar -C "$ROOT" -xf "$CACHE/base.tar"
for m in proc sys dev dev/pts; do
  mount --bind "/$m" "$ROOT/$m"
  mounts+=("$ROOT/$m")
done
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
# NOTE: where this machine's network intercepts TLS, its own certificate bundle holds the CA
# that npm must trust; a new root's ca-certificates does not. It is handed in the way this
# machine hands it to Node.js (NODE_EXTRA_CA_CERTS), which changes nothing the project installs.
extra_ca=()
host_ca="${NODE_EXTRA_CA_CERTS:-/etc/ssl/certs/ca-certificates.crt}"
if [ -f "$host_ca" ]; then
  cp "$host_ca" "$ROOT/etc/host-ca-bundle.crt"
  extra_ca=(NODE_EXTRA_CA_CERTS=/etc/host-ca-bundle.crt)
fi

# A clone of what is committed (not the work tree), as a newcomer gets it.
git clone -q "$REPO" "$ROOT/onnx-train"
echo "fresh root: $(git -C "$ROOT/onnx-train" log -1 --format='%h %s')"

run_in_root() {
  local name="$1" script="$2" start status
  start=$(date +%s)
  set +e
  chroot "$ROOT" /usr/bin/env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8 "${extra_ca[@]}" bash -c "cd /onnx-train && bash $script" </dev/null >"$CACHE/last/$name.log" 2>&1
  status=$?
  set -e
  local seconds=$(($(date +%s) - start))
  echo "fresh root: bash $script: exit $status in $((seconds / 60)) min $((seconds % 60)) s" | tee -a "$CACHE/last/$name.log"
  if [ "$status" -ne 0 ]; then tail -n 30 "$CACHE/last/$name.log"; exit "$status"; fi
  tail -n 4 "$CACHE/last/$name.log" | head -n 3
}

if [ "$WHAT" = packages ]; then
  run_in_root packages tools/fresh_root_packages.sh
  exit 0
fi
if [ "$WHAT" != test ]; then run_in_root run tools/run.sh; fi
if [ "$WHAT" != run ]; then run_in_root test tools/test.sh; fi
