#!/usr/bin/env python3
"""References for the Hugging Face folder of the default model (tests/data/hf_*.json).

    make_references.py [--gguf PATH] [--out-dir DIR] [--python PATH]

- hf_greedy_refs_f32.json, hf_greedy_refs_bf16.json: llama.cpp's greedy continuations of the
  committed prompts on the default model's weights dequantized to F32 and to BF16
  (`llama-quantize --allow-requantize`), the same weights make_folder.py writes into the
  folder; the same prompts, tool and settings as scripts/llama-cpp/make_references.py. A
  bfloat16 folder holds its norm weights in bfloat16 too, where llama-quantize keeps them F32:
  the BF16 file's norms are rounded to bfloat16 in place, so that both hold the same values.
- hf_tokenizer_refs.json: the ids `transformers` (the `tokenizers` library under it) gives
  the committed strings with the folder's own tokenizer files, special tokens parsed, as
  `tokenizer(text).input_ids` does.

Needs build.sh's tools (llama-server, llama-greedy-ref, llama-quantize) and a Python with
requirements.txt (--python; the folder is made with it).
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "llama-cpp"))
import make_references as refs  # noqa: E402  (the llama.cpp reference tooling)

TOKENIZER_SCRIPT = """
import json, sys
from transformers import AutoTokenizer
tok = AutoTokenizer.from_pretrained(sys.argv[1])
texts = json.load(sys.stdin)
print(json.dumps([tok(t).input_ids for t in texts]))
"""


# The F32 tensors of a GGUF file (its norm weights) rounded to bfloat16 in place.
ROUND_NORMS = """
import sys
import numpy as np
from gguf import GGUFReader, GGMLQuantizationType
reader = GGUFReader(sys.argv[1], "r+")
for t in reader.tensors:
    if t.tensor_type == GGMLQuantizationType.F32:
        bits = t.data.view(np.uint32).astype(np.uint64)
        rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16) << 16
        t.data[:] = rounded.astype(np.uint32).view(np.float32)
reader.data.flush()
"""


def hf_tokenizer_refs(python: str, folder: Path) -> dict:
    texts = refs.TOKENIZER_TEXTS
    out = subprocess.run([python, "-c", TOKENIZER_SCRIPT, str(folder)], input=json.dumps(texts),
                         capture_output=True, text=True, check=True).stdout
    version = subprocess.run([python, "-c", "import transformers, tokenizers; "
                              "print(transformers.__version__, tokenizers.__version__)"],
                             capture_output=True, text=True, check=True).stdout.split()
    return {
        "model": refs.MODEL + ", as a Hugging Face folder (scripts/hf/make_folder.py)",
        "tokenizer": f"transformers {version[0]}, tokenizers {version[1]}",
        "notes": "AutoTokenizer.from_pretrained(folder)(text).input_ids: special tokens parsed, "
                 "BOS as tokenizer_config.json's add_bos_token says (false).",
        "cases": [{"text": t, "ids": ids} for t, ids in zip(texts, json.loads(out))],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gguf", type=Path)
    ap.add_argument("--out-dir", type=Path, default=refs.REPO / "tests" / "data")
    ap.add_argument("--python", default=sys.executable,
                    help="a Python with scripts/hf/requirements.txt installed")
    args = ap.parse_args()
    gguf = args.gguf or refs.default_gguf()
    refs.ensure_gguf(gguf)
    bin_dir = refs.BUILD / "bin"
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        folder = work / "folder"
        subprocess.run([args.python, str(HERE / "make_folder.py"), "--gguf", str(gguf),
                        "--out", str(folder)], check=True)
        refs.write_json(args.out_dir / "hf_tokenizer_refs.json",
                        hf_tokenizer_refs(args.python, folder))
        for kind in ["f32", "bf16"]:
            dequantized = work / f"model-{kind}.gguf"
            subprocess.run([str(bin_dir / "llama-quantize"), "--allow-requantize", str(gguf),
                            str(dequantized), kind.upper()], check=True, capture_output=True)
            if kind == "bf16":
                subprocess.run([args.python, "-c", ROUND_NORMS, str(dequantized)], check=True)
            server = refs.Server(bin_dir / "llama-server", dequantized)
            try:
                version = refs.version_string(bin_dir / "llama-server")
                greedy = refs.greedy_refs(server, bin_dir / "llama-greedy-ref", dequantized,
                                          version, model=f"{refs.MODEL} dequantized to {kind.upper()}")
                refs.write_json(args.out_dir / f"hf_greedy_refs_{kind}.json", greedy)
            finally:
                server.close()


if __name__ == "__main__":
    main()
