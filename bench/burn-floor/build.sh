#!/usr/bin/env bash
# Builds the floor (src/lib.rs) twice, as the page's two builds are published (Makefile `dist`):
# without WebGPU, Cargo profile web and wasm-opt '--no-inline=* -Oz'; with WebGPU, profile
# web-release (LTO) and wasm-opt -Oz. Each lands, with its wasm-bindgen glue, in
# OUT/{cpu,webgpu}/floor.js and floor_bg.wasm. Needs wasm-bindgen and npm's binaryen (make tools).
set -euo pipefail
cd "$(dirname "$0")"
out=${1:?usage: build.sh OUT_DIR}
# The repository's target directory unless one is set (not this package's own).
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/../../target}
target=$CARGO_TARGET_DIR
build() { # name profile wasm-opt-flags cargo-flags...
  local name=$1 profile=$2 opt=$3
  shift 3
  cargo build --locked --profile "$profile" --target wasm32-unknown-unknown "$@"
  rm -rf "${out:?}/$name"
  mkdir -p "$out/$name"
  wasm-bindgen --target=web --no-typescript --out-dir="$out/$name" --out-name=floor \
    "$target/wasm32-unknown-unknown/$profile/burn_floor.wasm"
  local flags
  read -ra flags <<< "$opt"
  wasm-opt "--output=$out/$name/opt.wasm" "${flags[@]}" "$out/$name/floor_bg.wasm"
  mv "$out/$name/opt.wasm" "$out/$name/floor_bg.wasm"
}
build cpu web '--no-inline=* -Oz'
build webgpu web-release '-Oz' --features webgpu
