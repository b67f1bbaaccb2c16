#!/usr/bin/env bash
# Writes tests/data/kernel_refs.json: ggml's own Q4_K / Q6_K / Q5_0 products and
# dequantizations on deterministic data (kernel_refs.c), which sluice's kernels must equal bit
# for bit. Needs the static ggml libraries of build.sh (third_party/llama.cpp-build).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SRC="${SRC:-$REPO/third_party/llama_cpp_python-0.3.36/vendor/llama.cpp}"
BUILD="${BUILD:-$REPO/third_party/llama.cpp-build}"
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT
# -ffp-contract=off: the data generators must round like the Rust tests' (no fused ops).
cc -O2 -ffp-contract=off -I"$SRC/ggml/include" "$REPO/scripts/llama-cpp/kernel_refs.c" \
    "$BUILD/ggml/src/libggml.a" "$BUILD/ggml/src/libggml-cpu.a" "$BUILD/ggml/src/libggml-base.a" \
    -lm -lpthread -fopenmp -lstdc++ -o "$OUT/kernel_refs"
"$OUT/kernel_refs" >"$REPO/tests/data/kernel_refs.json"
echo "wrote tests/data/kernel_refs.json"
