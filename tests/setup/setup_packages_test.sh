#!/usr/bin/env bash
# Every file the build found through CMake (libraries, headers, tools, package configs) must
# belong to a Debian package that tools/setup.sh installs, or that one of those pulls in as a
# hard dependency (Depends / Pre-Depends). setup.sh installs with --no-install-recommends, so a
# package the build needs that comes only as a Recommends is missing on a fresh machine even
# though every development machine has it: that is how Debian's oneDNN, whose CMake config
# asks for OpenCL (ocl-icd-opencl-dev, a Recommends of libdnnl-dev), broke the first command
# of the README on a fresh Debian 12.
#
#   bash tests/setup/setup_packages_test.sh SOURCE_DIR BUILD_DIR
#
# Prints each needed file with its package and exits 1 naming what setup.sh lacks. The full
# check on a new root is tools/fresh_root_check.sh; this one runs in the suite in seconds.
set -euo pipefail
SRC="$1"
BUILD="$2"
cache="$BUILD/CMakeCache.txt"
[ -f "$cache" ] || { echo "setup check: $cache is missing (configure first)"; exit 1; }

mapfile -t listed < <(bash "$SRC/tools/setup.sh" --tests --list-packages)

# What installing them brings without recommends: their Depends / Pre-Depends, recursively,
# read from dpkg's own database (installed packages; no apt lists needed). A dependency on a
# virtual package counts every installed package that provides it.
# One line per installed package: "name#depends, pre-depends#provides", versions left out.
declare -A provides=() depends=()
while IFS='#' read -r pkg deps provided; do
  depends["$pkg"]="${deps//[,|]/ }"
  for v in ${provided//,/ }; do provides["$v"]+="$pkg "; done
done < <(dpkg-query -W -f='${Package}#${Depends}, ${Pre-Depends}#${Provides}\n' 2>/dev/null |
  sed -E 's/ *\([^)]*\)//g; s/:any//g')
declare -A closure=()
stack=("${listed[@]}")
while [ ${#stack[@]} -gt 0 ]; do
  p="${stack[-1]}"
  unset 'stack[-1]'
  [ -z "${closure[$p]:-}" ] || continue
  closure["$p"]=1
  for d in ${depends[$p]:-}; do
    [ -n "${closure[$d]:-}" ] || stack+=("$d")
    for q in ${provides[$d]:-}; do [ -n "${closure[$q]:-}" ] || stack+=("$q"); done
  done
done
for p in "${listed[@]}"; do closure["$p"]=1; done

# The files CMake found. Launchers (ccache) are a developer's choice, not a dependency.
mapfile -t found < <(grep -E '^[A-Za-z0-9_.+-]+:(FILEPATH|PATH)=/usr/' "$cache" |
  grep -v -E '^CMAKE_[A-Z]+_COMPILER_LAUNCHER' | sed -E 's/^[^=]*=//' | sort -u)

missing=()
checked=0
for path in "${found[@]}"; do
  [ -e "$path" ] || continue
  # A package-config folder (dnnl_DIR=...) is shared; the config file in it is not.
  if [ -d "$path" ]; then
    config="$(find "$path" -maxdepth 1 -iname '*config.cmake' | head -n1)"
    [ -n "$config" ] || continue
    path="$config"
  fi
  # The path as found first: a -dev package owns the libfoo.so link, the runtime package its
  # target; then the resolved path (alternatives such as /usr/bin/c++).
  owner_of() { dpkg -S "$1" 2>/dev/null | head -n1 | sed -E 's/: .*//; s/:[a-z0-9_]+(,|$)/\1/g' | tr -d ' '; }
  owners="$(owner_of "$path" || true)"
  if [ -z "$owners" ]; then owners="$(owner_of "$(readlink -f "$path")" || true)"; fi
  [ -n "$owners" ] || continue  # not from a package (generated, or /usr/local)
  checked=$((checked + 1))
  ok=0
  IFS=, read -ra pkgs <<<"$owners"
  for p in "${pkgs[@]}"; do
    if [ -n "${closure[$p]:-}" ]; then ok=1; fi
  done
  if [ "$ok" = 0 ]; then missing+=("$owners (for $path)"); fi
done

echo "setup check: ${checked} files the build found, from ${#listed[@]} packages setup.sh installs and their dependencies"
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup check: the build uses files of packages that tools/setup.sh does not install (nor any of its"
  echo "packages depends on); a fresh machine lacks them. Add them to PACKAGES in tools/setup.sh:"
  printf '  %s\n' "${missing[@]}"
  exit 1
fi
echo "setup check: every one is installed by tools/setup.sh"
