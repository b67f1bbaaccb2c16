#!/usr/bin/env bash
# Benchmarks llama-server on the default model with `sluice bench run`: starts it for each
# setting of bench/experiments/llama-server.toml, sweeps concurrency, stops it, and writes
# report.md, results.{json,csv} and plots/ to ${OUT:-bench-results/llama-server}.
# Usage: bench-llama-server.sh [EXPERIMENT.toml]
#   LLAMA_SERVER  llama-server binary (default: third_party/llama.cpp-build/bin/llama-server,
#                 built by scripts/llama-cpp/build.sh)
#   SLUICE_GGUF   model file (default: the `sluice fetch` cache path)
#   SLUICE_BENCH  command that runs `sluice bench` (default: target/release/sluice bench)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$REPO"
export LLAMA_SERVER="${LLAMA_SERVER:-$REPO/third_party/llama.cpp-build/bin/llama-server}"
CACHE="${SLUICE_CACHE:-$HOME/.cache/sluice}"
export SLUICE_GGUF="${SLUICE_GGUF:-$CACHE/smollm2-135m/SmolLM2-135M-Instruct.Q4_1.gguf}"
SLUICE_BENCH="${SLUICE_BENCH:-$REPO/target/release/sluice bench}"
EXPERIMENT="${1:-bench/experiments/llama-server.toml}"
OUT="${OUT:-bench-results/llama-server}"

[[ -x "$LLAMA_SERVER" ]] || { echo "missing $LLAMA_SERVER; run scripts/llama-cpp/build.sh" >&2; exit 1; }
[[ -f "$SLUICE_GGUF" ]] || { echo "missing $SLUICE_GGUF; run sluice fetch or make_references.py" >&2; exit 1; }
[[ -x "${SLUICE_BENCH%% *}" ]] || {
  echo "missing ${SLUICE_BENCH%% *}; run cargo build --release -p sluice-cli" >&2; exit 1; }

# Word splitting of SLUICE_BENCH is intended: it is a command and its first arguments.
# shellcheck disable=SC2086
exec $SLUICE_BENCH run "$EXPERIMENT" --out "$OUT"
