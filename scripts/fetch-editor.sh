#!/usr/bin/env bash
# Fetches the stock Scratch 3 editor (npm package @scratch/scratch-gui-standalone,
# AGPL-3.0-only) and unpacks its dist/ folder for CUBBY_EDITOR_DIR. The editor is
# never committed to this repository; this script gets it from the npm registry.
#
#   scripts/fetch-editor.sh [TARGET_DIR]     (default: ./cubby-data/editor)
#
# Then: CUBBY_EDITOR_DIR=<TARGET_DIR> cargo run --release --bin cubby -- serve
set -euo pipefail
version="${SCRATCH_GUI_VERSION:-15.1.1}"
target="${1:-./cubby-data/editor}"
if [ -f "$target/scratch-gui-standalone.js" ]; then
  echo "editor already present in $target"
  exit 0
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "fetching @scratch/scratch-gui-standalone@$version (about 150 MB) ..."
(cd "$work" && npm pack --silent "@scratch/scratch-gui-standalone@$version" >/dev/null)
tar -xzf "$work"/scratch-scratch-gui-standalone-"$version".tgz -C "$work" package/dist
mkdir -p "$(dirname "$target")"
rm -rf "$target"
# Source maps and the non-standalone library are not needed to serve the editor.
find "$work/package/dist" \( -name '*.map' -o -name 'scratch-gui.js' \) -delete
mv "$work/package/dist" "$target"
echo "editor unpacked in $target"
