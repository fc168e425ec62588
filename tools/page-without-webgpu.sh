#!/usr/bin/env bash
# Trunk's post-build hook (Trunk.toml): builds the page a second time without its WebGPU backend
# (the crate without feature `webgpu`), puts its glue, module and snippets in a folder of the
# staging directory named by a digest of their bytes, and names the glue and module in the
# #dimple-start element, where static/start.js finds them. Visitors whose browser has no
# hardware WebGPU adapter load this build and download no GPU code.
#
# DIMPLE_CARGO_PROFILE names a Cargo profile other than Trunk's; DIMPLE_WASM_OPT, wasm-opt's
# flags (`make dist` sets '--no-inline=* -Oz', in that order: see bench/README.md).
set -euo pipefail
cd "$TRUNK_SOURCE_DIR"

# Trunk's release profile becomes `web` (Cargo.toml), as for the build with WebGPU (index.html).
profile=${DIMPLE_CARGO_PROFILE:-$TRUNK_PROFILE}
[ "$profile" = release ] && profile=web
case $profile in
  debug) flags=() ;;
  *) flags=(--profile "$profile") ;;
esac
# Its own target directory: cargo names a cdylib's output without a digest, so the two builds
# in one directory would overwrite each other's dimple.wasm and rebuild it every time.
target=${CARGO_TARGET_DIR:-$PWD/target}/without-webgpu
CARGO_TARGET_DIR=$target cargo build "${flags[@]}" --target wasm32-unknown-unknown --lib \
  --no-default-features

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
wasm-bindgen --target=web --no-typescript --out-dir="$out" --out-name=dimple \
  "$target/wasm32-unknown-unknown/$profile/dimple.wasm"
if [ -n "${DIMPLE_WASM_OPT:-}" ]; then
  # Split into words without globbing: `--no-inline=*` is a pattern for wasm-opt.
  read -ra opt <<< "$DIMPLE_WASM_OPT"
  wasm-opt "--output=$out/opt.wasm" "${opt[@]}" "$out/dimple_bg.wasm"
  mv "$out/opt.wasm" "$out/dimple_bg.wasm"
fi

# A folder named by a digest of its bytes, so a browser never mixes builds: the glue imports
# its snippets folder by a relative path, and the other build has one of the same name.
digest=$(cd "$out" && find . -type f | sort | xargs cat | sha256sum | cut -c1-16)
dir=without-webgpu-$digest
rm -rf "${TRUNK_STAGING_DIR:?}/$dir"
cp -r "$out" "$TRUNK_STAGING_DIR/$dir"
chmod 755 "$TRUNK_STAGING_DIR/$dir"

html=$TRUNK_STAGING_DIR/index.html
base=$TRUNK_PUBLIC_URL
sed -i "s|<template id=\"dimple-start\"|& data-cpu-js=\"$base$dir/dimple.js\" data-cpu-wasm=\"$base$dir/dimple_bg.wasm\"|" "$html"
grep -q "data-cpu-wasm=\"$base$dir/dimple_bg.wasm\"" "$html" || { echo "could not name the build without WebGPU in $html" >&2; exit 1; }
