#!/usr/bin/env python3
"""Make a Hugging Face model folder from a GGUF file, with the HF and ggml libraries themselves.

    make_folder.py --gguf PATH --out DIR [--dtype float32|bfloat16] [--shards N]

The folder is what a fine-tuner's `save_pretrained` leaves: config.json, generation_config.json,
model.safetensors (or N shards and model.safetensors.index.json), tokenizer.json,
tokenizer_config.json, special_tokens_map.json and chat_template.jinja.

- Weights: ggml's own reader (`gguf`) dequantizes every tensor in numpy; the q and k rows go
  back from llama.cpp's interleaved order to the halves order `transformers` rotates in (the
  inverse of convert_hf_to_gguf.py's `permute`); `safetensors` writes them. numpy has no
  bfloat16, so a bfloat16 folder's values are rounded to nearest even here and written in the
  safetensors format by hand (`write_bf16`).
- Tokenizer, template and config: `transformers` reads the GGUF's tokenizer and settings
  (its GGUF integration) and `save_pretrained` writes them. Its GGUF reader insists on torch
  although it reads only metadata, so the check is bypassed; and it ignores the file's
  add_bos_token, which is passed on explicitly.

Only Llama-architecture GGUF files (the default model) are converted. Needs the packages of
requirements.txt beside this script; sluice's tests install them into a virtual environment.
"""

import argparse
import json
import struct
from pathlib import Path

import numpy as np
from gguf import GGUFReader, dequantize
import transformers.modeling_gguf_pytorch_utils as gguf_utils
from transformers import AutoConfig, AutoTokenizer, GenerationConfig

# transformers reads a GGUF's metadata without torch, but asks for it anyway.
gguf_utils.is_torch_available = lambda: True

LAYER_NAMES = {
    "attn_norm.weight": "input_layernorm.weight",
    "attn_q.weight": "self_attn.q_proj.weight",
    "attn_k.weight": "self_attn.k_proj.weight",
    "attn_v.weight": "self_attn.v_proj.weight",
    "attn_output.weight": "self_attn.o_proj.weight",
    "ffn_norm.weight": "post_attention_layernorm.weight",
    "ffn_gate.weight": "mlp.gate_proj.weight",
    "ffn_up.weight": "mlp.up_proj.weight",
    "ffn_down.weight": "mlp.down_proj.weight",
}
WHOLE_NAMES = {
    "token_embd.weight": "model.embed_tokens.weight",
    "output_norm.weight": "model.norm.weight",
    "output.weight": "lm_head.weight",
}


def field(reader: GGUFReader, key: str):
    f = reader.fields.get(key)
    return None if f is None else f.contents()


def halves_order(w: np.ndarray, heads: int) -> np.ndarray:
    """Rows of each head from llama.cpp's interleaved order (2j + half) to `transformers`'
    halves order (half * d/2 + j): the inverse of convert_hf_to_gguf.py's `permute`."""
    rows = w.shape[0]
    return w.reshape(heads, rows // heads // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def hf_tensors(reader: GGUFReader) -> dict[str, np.ndarray]:
    heads = int(field(reader, "llama.attention.head_count"))
    kv_heads = int(field(reader, "llama.attention.head_count_kv") or heads)
    out = {}
    for t in reader.tensors:
        values = dequantize(t.data, t.tensor_type).astype(np.float32)
        values = values.reshape([int(d) for d in reversed(t.shape)])
        if t.name in WHOLE_NAMES:
            name = WHOLE_NAMES[t.name]
        else:
            _, layer, part = t.name.split(".", 2)
            name = f"model.layers.{layer}.{LAYER_NAMES[part]}"
            if part == "attn_q.weight":
                values = halves_order(values, heads)
            elif part == "attn_k.weight":
                values = halves_order(values, kv_heads)
        out[name] = np.ascontiguousarray(values)
    return out


def to_bf16_bits(values: np.ndarray) -> np.ndarray:
    """f32 values rounded to bfloat16 (to nearest even), as their 16 bits."""
    bits = values.astype(np.float32).view(np.uint32).astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    return rounded.astype(np.uint16)


def write_bf16(tensors: dict[str, np.ndarray], path: Path) -> None:
    """A safetensors file of bfloat16 tensors: an 8-byte header length, the JSON header padded
    with spaces to a multiple of 8, then each tensor's bytes in order."""
    header, blobs, offset = {}, [], 0
    for name, values in tensors.items():
        blob = to_bf16_bits(values).tobytes()
        header[name] = {"dtype": "BF16", "shape": list(values.shape),
                        "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def write_weights(tensors: dict[str, np.ndarray], out: Path, dtype: str, shards: int) -> None:
    from safetensors.numpy import save_file

    def write(part: dict[str, np.ndarray], path: Path) -> None:
        if dtype == "bfloat16":
            write_bf16(part, path)
        else:
            save_file(part, str(path), metadata={"format": "pt"})

    if shards <= 1:
        write(tensors, out / "model.safetensors")
        return
    names = list(tensors)
    per_shard = -(-len(names) // shards)
    weight_map = {}
    for i in range(shards):
        file = f"model-{i + 1:05d}-of-{shards:05d}.safetensors"
        part = {n: tensors[n] for n in names[i * per_shard:(i + 1) * per_shard]}
        write(part, out / file)
        weight_map.update({n: file for n in part})
    total = sum(v.size * (2 if dtype == "bfloat16" else 4) for v in tensors.values())
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    (out / "model.safetensors.index.json").write_text(json.dumps(index, indent=2) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gguf", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32")
    ap.add_argument("--shards", type=int, default=1)
    args = ap.parse_args()

    reader = GGUFReader(args.gguf)
    arch = field(reader, "general.architecture")
    if arch != "llama":
        raise SystemExit(f"{args.gguf}: only llama GGUF files are converted, not {arch}")
    args.out.mkdir(parents=True, exist_ok=True)
    folder, name = str(args.gguf.parent), args.gguf.name

    add_bos = bool(field(reader, "tokenizer.ggml.add_bos_token"))
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name, add_bos_token=add_bos)
    tokenizer.save_pretrained(args.out)

    config = AutoConfig.from_pretrained(folder, gguf_file=name)
    config.architectures = ["LlamaForCausalLM"]
    config.dtype = args.dtype
    config.save_pretrained(args.out)
    GenerationConfig.from_model_config(config).save_pretrained(args.out)

    write_weights(hf_tensors(reader), args.out, args.dtype, args.shards)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
