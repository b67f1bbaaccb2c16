#!/usr/bin/env bash
# llama.cpp baseline throughput for the reference model (CPU, 2 threads):
# 128-token prompt processing (pp128) and 128-token generation (tg128), 3 reps.
# Usage: bench.sh [GGUF]   (default: $SLUICE_GGUF or the `sluice fetch` cache path)
# The table is printed and also saved to ${BENCH_OUT:-/tmp/llama-bench.txt}.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BENCH="${LLAMA_BENCH:-$REPO/third_party/llama.cpp-build/bin/llama-bench}"
CACHE="${SLUICE_CACHE:-$HOME/.cache/sluice}"
GGUF="${1:-${SLUICE_GGUF:-$CACHE/smollm2-135m/SmolLM2-135M-Instruct.Q4_1.gguf}}"
OUT="${BENCH_OUT:-/tmp/llama-bench.txt}"

[[ -x "$BENCH" ]] || { echo "missing $BENCH; run scripts/llama-cpp/build.sh" >&2; exit 1; }
[[ -f "$GGUF" ]] || { echo "missing $GGUF; run make_references.py or sluice fetch" >&2; exit 1; }

"$BENCH" -m "$GGUF" -p 128 -n 128 -t 2 -r 3 | tee "$OUT"
