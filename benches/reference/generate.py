"""The plain PyTorch generation loop Muse's cached generation is measured against: the
benchmark GPT (random weights) recomputes the whole context for every new token.

Usage: python generate.py [tokens=500]; prints one JSON line with the milliseconds.
"""

import json
import time

import torch
from torch.nn import functional as F

from common import arguments
from gpt import Gpt

DEFAULTS = {"tokens": 500, "vocab": 80, "context": 64}


@torch.no_grad()
def main():
    args = arguments(DEFAULTS)
    torch.manual_seed(3)
    model = Gpt(args["vocab"], args["context"], 128, 4, 4, 0.0).eval()
    tokens = torch.randint(0, args["vocab"], (1, 48))
    for _ in range(20):
        model(tokens[:, -args["context"]:])
    started = time.perf_counter()
    for _ in range(args["tokens"]):
        logits = model(tokens[:, -args["context"]:])[:, -1, :] / 0.8
        top, _ = torch.topk(logits, 40)
        logits[logits < top[:, [-1]]] = -float("inf")
        token = torch.multinomial(F.softmax(logits, dim=-1), 1)
        tokens = torch.cat([tokens, token], dim=1)
    print(json.dumps({"ms": (time.perf_counter() - started) * 1000}))


if __name__ == "__main__":
    main()
