#!/usr/bin/env python3
"""sluice against llama.cpp on this CPU, side by side, written to docs/performance.md.

    python3 scripts/perf/compare_cpu.py [--runs 3] [--serve-runs 3] [--threads 2]
        [--sluice PATH] [--doc PATH] [--no-kernels]

Builds llama.cpp from the llama-cpp-python sdist (scripts/llama-cpp/build.sh) and sluice
(release), then, interleaving the engines in every run so both see the same machine:
  - prefill of a 512-token prompt and decode of 128 tokens: llama-bench pp512/tg128 against
    `sluice generate` (one sequence, stats on stderr);
  - serving: `sluice bench run bench/experiments/cpu-sluice-vs-llama-server.toml` (64 prompts,
    64 new tokens, streamed /v1/completions at 1, 8 and 32 clients; llama-server -np 32), one
    launch per concurrency level so that no level finds the prompts already cached.
  - kernels: `cargo bench -p sluice-models --bench quant_matmul` (sluice's quantized matmul
    against candle's QMatMul).
Reports medians over the runs and sluice/llama.cpp ratios, and copies the last serving run's
throughput plot next to the page. Needs the default model (`sluice fetch`). `--sluice` runs a
given binary instead of building this checkout (to compare two builds, each against llama.cpp
on the same machine), and `--doc` writes the page elsewhere.
"""

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LLAMA_BIN = REPO / "third_party/llama.cpp-build/bin"
SLUICE = REPO / "target/release/sluice"
EXPERIMENT = REPO / "bench/experiments/cpu-sluice-vs-llama-server.toml"
DOC = REPO / "docs/performance.md"
# Everything from this line on in the page is written by hand (analysis, tuning), and kept.
NOTES_MARKER = "<!-- written by hand below; compare_cpu.py keeps it -->"
GGUF = Path(
    os.environ.get("SLUICE_GGUF")
    or Path(os.environ.get("SLUICE_CACHE", Path.home() / ".cache/sluice"))
    / "smollm2-135m/SmolLM2-135M-Instruct.Q4_1.gguf"
)
# 512 tokens with SmolLM2's tokenizer (the report prints the count sluice measured).
PROMPT_512 = (
    " ".join(["The quick brown fox jumps over the lazy dog near the river bank."] * 36)
    + " The quick brown fox jumps over the lazy"
)


def run(cmd, **kw):
    print("+", " ".join(map(str, cmd)), file=sys.stderr, flush=True)
    return subprocess.run(cmd, check=True, text=True, **kw)


def llama_bench(threads):
    out = run(
        [LLAMA_BIN / "llama-bench", "-m", GGUF, "-p", "512", "-n", "128", "-t", str(threads),
         "-r", "1", "-o", "json"],
        capture_output=True,
    ).stdout
    rows = json.loads(out)
    pp = next(r["avg_ts"] for r in rows if r["n_prompt"] == 512 and r["n_gen"] == 0)
    tg = next(r["avg_ts"] for r in rows if r["n_gen"] == 128 and r["n_prompt"] == 0)
    return pp, tg


STATS = re.compile(
    r"prefill: (\d+) tokens, ([\d.]+) tokens/s \| decode: (\d+) tokens, ([\d.]+) tokens/s"
)


def sluice_generate(threads, prompt, new_tokens):
    err = run(
        [SLUICE, "generate", "--model-id", GGUF, "--threads", str(threads), "--prompt", prompt,
         "--max-new-tokens", str(new_tokens), "--ignore-eos"],
        capture_output=True,
    ).stderr
    m = STATS.search(err)
    if not m:
        sys.exit(f"no stats line in sluice generate's output:\n{err}")
    return int(m[1]), float(m[2]), int(m[3]), float(m[4])


def micro(runs, threads):
    samples = {"pp512": {"llama.cpp": [], "sluice": []}, "tg128": {"llama.cpp": [], "sluice": []}}
    prompt_tokens = None
    for _ in range(runs):
        pp, tg = llama_bench(threads)
        samples["pp512"]["llama.cpp"].append(pp)
        samples["tg128"]["llama.cpp"].append(tg)
        prompt_tokens, prefill, _, _ = sluice_generate(threads, PROMPT_512, 1)
        samples["pp512"]["sluice"].append(prefill)
        # llama-bench's tg128 starts from an empty context; one prompt token is the closest.
        _, _, _, decode = sluice_generate(threads, "Once", 129)
        samples["tg128"]["sluice"].append(decode)
    return samples, prompt_tokens


LEVELS = (1, 8, 32)


def experiment_at(concurrency, out):
    """The experiment with one concurrency level, written into a fresh results directory."""
    text, n = re.subn(r"^concurrency = .*$", f"concurrency = [{concurrency}]",
                      EXPERIMENT.read_text(), count=1, flags=re.M)
    if n != 1:
        sys.exit(f"{EXPERIMENT} has no `concurrency = ...` line to replace")
    shutil.rmtree(out, ignore_errors=True)  # never read an earlier run's results
    out.mkdir(parents=True)
    path = out / "experiment.toml"
    path.write_text(text)
    return path


def merge_levels(run_dir):
    """One results.json with every level of a run (for its report and plots)."""
    parts = [json.loads((run_dir / f"c{c}" / "results.json").read_text()) for c in LEVELS]
    merged = parts[0]
    for part in parts[1:]:
        for theirs in part["runs"]:
            mine = next((r for r in merged["runs"] if r["engine"] == theirs["engine"]), None)
            if mine is None:
                merged["runs"].append(theirs)
                continue
            mine["levels"].extend(theirs["levels"])
            errors = [e for e in (mine.get("error"), theirs.get("error")) if e]
            mine["error"] = "; ".join(errors) or None
    out = run_dir / "all-levels"
    out.mkdir(exist_ok=True)
    (out / "results.json").write_text(json.dumps(merged, indent=2))
    run([SLUICE, "bench", "report", out])
    return out


def serve(runs, out_dir):
    levels = {}
    last = None
    for i in range(runs):
        for c in LEVELS:
            out = out_dir / f"serve-{i}" / f"c{c}"
            experiment = experiment_at(c, out)
            # A run with failed requests exits non-zero but still writes its results; the
            # table shows the failures in its `ok` column.
            print("+ sluice bench run", experiment, "--out", out, file=sys.stderr, flush=True)
            subprocess.run([SLUICE, "bench", "run", experiment, "--out", out], cwd=REPO,
                           env={**os.environ, "SLUICE_BIN": str(SLUICE)})
            results = json.loads((out / "results.json").read_text())
            for r in results["runs"]:
                entry = levels.setdefault((c, r["engine"]), {k: [] for k in FIELDS})
                if not r["levels"]:
                    # The server never served this level (it failed to start, say).
                    print(f"warning: {r['engine']} at c={c}: {r.get('error')}", file=sys.stderr)
                    entry["ok"].append(0)
                for level in r["levels"]:
                    s = level["summary"]
                    entry["out tok/s"].append(s["output_throughput"])
                    entry["time (s)"].append(s["duration_s"])
                    entry["TTFT p50 (ms)"].append(s["ttft_ms"]["p50"])
                    entry["TTFT p99 (ms)"].append(s["ttft_ms"]["p99"])
                    entry["TPOT p50 (ms)"].append(s["tpot_ms"]["p50"])
                    entry["RSS max (MiB)"].append(level["server_usage"]["rss_mib_max"])
                    entry["ok"].append(s["completed"])
        last = merge_levels(out_dir / f"serve-{i}")
    return levels, last


FIELDS = ["out tok/s", "time (s)", "TTFT p50 (ms)", "TTFT p99 (ms)", "TPOT p50 (ms)",
          "RSS max (MiB)", "ok"]


def med(xs):
    """The median; NaN (shown as nan) when a level has no successful run."""
    return statistics.median(xs) if xs else float("nan")


def machine():
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    flags = next((l for l in Path("/proc/cpuinfo").read_text().splitlines()
                  if l.startswith("flags")), "")
    simd = [f for f in ("avx2", "fma", "f16c", "avx512f", "avx512_vnni", "avx_vnni")
            if f" {f}" in flags]
    mem = int(next(l for l in Path("/proc/meminfo").read_text().splitlines()
                   if l.startswith("MemTotal")).split()[1]) / 2**20
    return f"{cpu}, {os.cpu_count()} CPUs ({', '.join(simd)}), {mem:.1f} GiB, {platform.platform()}"


def llama_version():
    out = subprocess.run([LLAMA_BIN / "llama-server", "--version"], capture_output=True,
                         text=True)
    return " ".join((out.stdout + out.stderr).split())


def kernel_bench():
    out = run(["cargo", "bench", "--quiet", "-p", "sluice-models", "--bench", "quant_matmul"],
              cwd=REPO, capture_output=True).stdout
    lines = out.splitlines()
    head = [line + "\n" for line in lines if line.startswith("threads")]
    # The tables, with the blank lines that separate them.
    first = next((i for i, line in enumerate(lines) if line.startswith("|")), None)
    if first is None:
        sys.exit(f"no table in the kernel benchmark's output:\n{out}")
    return head + [line for line in lines[first:] if line.startswith("|") or not line.strip()]


def write_doc(samples, prompt_tokens, levels, plot, kernels, args):
    lines = [
        "# Performance: sluice against llama.cpp on CPU",
        "",
        f"Generated by `python3 scripts/perf/compare_cpu.py --runs {args.runs} "
        f"--serve-runs {args.serve_runs} --threads {args.threads}` on "
        f"{time.strftime('%Y-%m-%d')}. Re-run it for every claim; numbers from another "
        "machine or sitting are not comparable.",
        "",
        f"- Machine: {machine()}",
        f"- Model: `{GGUF.name}` (SmolLM2-135M-Instruct, Q4_1), {args.threads} threads for both.",
        f"- llama.cpp: {llama_version()}, built from the llama-cpp-python sdist by "
        "`scripts/llama-cpp/build.sh`.",
        "- Each figure is the median of the runs; the engines alternate within every run.",
        "",
        "## One sequence: prefill and decode",
        "",
        f"llama-bench `-p 512 -n 128 -t {args.threads}` against `sluice generate` with a "
        f"{prompt_tokens}-token prompt (prefill) and with a 1-token prompt and 129 new "
        "tokens (decode). Tokens per second.",
        "",
        "| | llama.cpp | sluice | sluice / llama.cpp |",
        "|---|---:|---:|---:|",
    ]
    for name, label in (("pp512", "prefill (pp512)"), ("tg128", "decode (tg128)")):
        a, b = med(samples[name]["llama.cpp"]), med(samples[name]["sluice"])
        lines.append(f"| {label} | {a:.1f} | {b:.1f} | {b / a:.2f}x |")
    lines += [
        "",
        "## Serving: streaming clients",
        "",
        "`sluice bench run bench/experiments/cpu-sluice-vs-llama-server.toml`: the 64 built-in "
        "prompts (3,885 prompt tokens), 64 new tokens each with ignore_eos, streamed "
        "`/v1/completions`, at 1, 8 and 32 concurrent clients; llama-server runs with "
        "`-np 32 -c 32768` (1,024 tokens per slot). Both servers are started afresh for "
        "each level, so no level finds the prompts in a cache (apart from the experiment's "
        "2 warm-up requests). Token counts are the servers' own.",
        "",
        "| clients | engine | " + " | ".join(FIELDS) + " |",
        "|---|---|" + "---:|" * len(FIELDS),
    ]
    for c in sorted({c for c, _ in levels}):
        for engine in ("llama-server", "sluice"):
            if (c, engine) not in levels:
                continue
            vals = levels[(c, engine)]
            cells = [f"{med(vals[f]):.1f}" if f != "ok" else f"{min(vals[f])}/64" for f in FIELDS]
            lines.append(f"| {c} | {engine} | " + " | ".join(cells) + " |")
    lines += ["", "Ratios (sluice / llama-server; for TTFT and memory, lower is better):", ""]
    lines += ["| clients | out tok/s | TTFT p50 | TTFT p99 | RSS max |", "|---|---:|---:|---:|---:|"]
    for c in sorted({c for c, _ in levels}):
        s, l = levels.get((c, "sluice")), levels.get((c, "llama-server"))
        if s and l:
            ratio = lambda f: med(s[f]) / med(l[f])
            lines.append(f"| {c} | {ratio('out tok/s'):.2f}x | {ratio('TTFT p50 (ms)'):.2f}x | "
                         f"{ratio('TTFT p99 (ms)'):.2f}x | {ratio('RSS max (MiB)'):.2f}x |")
    if plot:
        lines += ["", "Output tokens/s by concurrency (last run):", "",
                  f"![throughput]({DOC.stem}/throughput.svg)"]
    lines += [
        "",
        "## Kernels",
        "",
        "`cargo bench -p sluice-models --bench quant_matmul` compares sluice's quantized matmul "
        "with candle's `QMatMul` per format and rows per step (GFLOP/s, activation "
        "quantization included, SmolLM2's shapes; ratio = sluice / candle).",
        "",
    ] + kernels
    old = DOC.read_text() if DOC.exists() else ""
    notes = "\n" + old[old.index(NOTES_MARKER):] if NOTES_MARKER in old else ""
    DOC.write_text("\n".join(lines) + "\n" + notes)


def main():
    global SLUICE, DOC
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", type=int, default=3, help="prefill/decode runs")
    p.add_argument("--serve-runs", type=int, default=3, help="serving runs (about 5 min each)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--no-kernels", dest="kernels", action="store_false",
                   help="skip the kernel micro-benchmarks")
    p.add_argument("--out", type=Path, default=Path("bench-results/compare-cpu"))
    p.add_argument("--sluice", type=Path, help="a sluice binary to run instead of building one")
    p.add_argument("--doc", type=Path, default=DOC, help="where to write the page")
    args = p.parse_args()
    args.out = args.out.resolve()  # the benches run from the repository root
    DOC = args.doc.resolve()
    if not (LLAMA_BIN / "llama-bench").exists():
        run(["bash", REPO / "scripts/llama-cpp/build.sh"])
    if args.sluice:
        SLUICE = args.sluice.resolve()
    else:
        run(["cargo", "build", "--release", "--quiet"], cwd=REPO)
    if not GGUF.exists():
        run([SLUICE, "fetch"])
    samples, prompt_tokens = micro(args.runs, args.threads)
    levels, last = serve(args.serve_runs, args.out) if args.serve_runs else ({}, None)
    plot = last and (last / "plots/throughput.svg").exists()
    if plot:
        plots = DOC.with_suffix("")  # docs/performance/ beside docs/performance.md
        plots.mkdir(parents=True, exist_ok=True)
        shutil.copy(last / "plots/throughput.svg", plots / "throughput.svg")
    kernels = kernel_bench() if args.kernels else []
    write_doc(samples, prompt_tokens, levels, plot, kernels, args)
    print(DOC.read_text())


if __name__ == "__main__":
    main()
