#!/usr/bin/env python3
"""A second opinion on the folder references: `transformers` with torch, on CPU, in float32.

    second_opinion.py --folder DIR [--refs tests/data/hf_greedy_refs_f32.json]
                      [--dtype float32|bfloat16]

Runs `transformers`' own Llama on a folder make_folder.py writes, in --dtype (float32 by
default: a bfloat16 folder's weights widened, its activations kept in f32 as llama.cpp keeps
them; bfloat16 rounds every activation too, as torch does in that type), teacher-forced
along llama.cpp's committed greedy continuations (the same prompt ids and tokens the tests
hold sluice to), and reports, per step, whether transformers' top token is llama.cpp's and
how far its log-probability of that token is from llama.cpp's. sluice equals llama.cpp on
these (crates/sluice-engine/tests/hf_folder.rs), so this says how far a third implementation
of the same arithmetic, summed in another order, stands from both.

Not run in CI (torch is large); needs requirements.txt and torch in one Python.
"""

import argparse
import json
import sys
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM

REPO = Path(__file__).resolve().parents[2]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--folder", required=True, type=Path)
    p.add_argument("--refs", type=Path, default=REPO / "tests/data/hf_greedy_refs_f32.json")
    p.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32")
    args = p.parse_args()
    refs = json.loads(args.refs.read_text())
    torch.set_num_threads(2)
    model = AutoModelForCausalLM.from_pretrained(args.folder, dtype=getattr(torch, args.dtype))
    model.eval()
    steps = agree = 0
    worst = 0.0
    for case in refs["cases"]:
        ids = case["prompt_ids"] + case["tokens"]
        with torch.no_grad():
            logits = model(torch.tensor([ids])).logits[0].double()
        logprobs = torch.log_softmax(logits, dim=-1)
        first = len(case["prompt_ids"]) - 1
        for i, (token, top2) in enumerate(zip(case["tokens"], case["top2_logprobs"])):
            row = logprobs[first + i]
            steps += 1
            # A step whose two best llama.cpp logprobs are within 1e-3 is a tie either may take.
            tie = top2[0] - top2[1] < 1e-3
            agree += int(int(row.argmax()) == token or tie)
            worst = max(worst, abs(float(row[token]) - top2[0]))
    print(f"transformers {__import__('transformers').__version__}, torch {torch.__version__}, "
          f"{args.dtype}: "
          f"top token = llama.cpp's on {agree}/{steps} steps (ties counted), "
          f"largest logprob difference {worst:.2e}")
    return 0 if agree == steps else 1


if __name__ == "__main__":
    sys.exit(main())
