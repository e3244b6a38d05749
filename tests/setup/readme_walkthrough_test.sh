#!/usr/bin/env bash
# Runs every command of the README's "Your first fine-tune" section, in order, as a reader would
# type them from the checkout: each ```sh block of that section (from its heading to the next
# "## " heading), lines joined at a trailing backslash, comments skipped. It runs in a fresh
# temporary folder where build/, tools/ and models/ point into the checkout and its build, so the
# relative paths of the README work and nothing is written into the checkout. A command that
# fails fails the test, with the command and its output shown.
#
#   readme_walkthrough_test.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
SRC="$1"
BUILD="$2"
SECTION="## Your first fine-tune"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
ln -s "$BUILD" "$WORK/build"
ln -s "$SRC/tools" "$WORK/tools"
ln -s "$SRC/models" "$WORK/models"

# The commands: awk keeps the sh blocks between the section's heading and the next level-2 one.
awk -v section="$SECTION" '
  $0 == section { inside = 1; next }
  inside && /^## / { inside = 0 }
  inside && /^```sh$/ { block = 1; next }
  inside && block && /^```$/ { block = 0; next }
  inside && block { print }
' "$SRC/README.md" > "$WORK/commands.txt"

commands=()
pending=""
while IFS= read -r line || [ -n "$line" ]; do
  case "$line" in '#'* | '') [ -z "$pending" ] && continue ;; esac
  if [[ "$line" == *'\' ]]; then
    pending+="${line%\\} "
    continue
  fi
  commands+=("$pending$line")
  pending=""
done < "$WORK/commands.txt"

if [ "${#commands[@]}" -lt 5 ]; then
  echo "found ${#commands[@]} commands in the README's section '$SECTION': expected the walkthrough's" >&2
  exit 1
fi

cd "$WORK"
n=0
for command in "${commands[@]}"; do
  n=$((n + 1))
  echo "[$n/${#commands[@]}] \$ $command"
  start=$(date +%s%N)
  if ! bash -c "set -o pipefail; $command" > "$WORK/out.txt" 2>&1; then
    cat "$WORK/out.txt"
    echo "README command $n failed: $command" >&2
    exit 1
  fi
  tail -n 25 "$WORK/out.txt"
  elapsed_ms=$((($(date +%s%N) - start) / 1000000))
  echo "    ($((elapsed_ms / 1000)).$((elapsed_ms % 1000 / 100)) s)"
done
echo "all ${#commands[@]} commands of '$SECTION' ran"
