"""PyTorch reference for Muse's GPT benchmark: the same decoder-only transformer, written
the way a PyTorch user would (one fused query/key/value projection, scaled_dot_product_attention,
torch.optim.AdamW), trained character-level on shakespeare-1m.txt.

Usage: python gpt.py corpus=PATH [steps=2000] ...; prints one JSON line of results.
"""

import math

import torch
from torch import nn
from torch.nn import functional as F

from common import arguments, load_chars, train

DEFAULTS = {"corpus": "", "steps": 2000, "batch_size": 12, "context": 64, "embedding": 128,
            "heads": 4, "layers": 4, "dropout": 0.0, "lr": 1e-3, "min_lr": 1e-4, "warmup": 100,
            "weight_decay": 0.1, "clip": 1.0, "eval_batches": 200, "seed": 1234}


class Block(nn.Module):
    def __init__(self, width, heads, dropout):
        super().__init__()
        self.heads = heads
        self.dropout = dropout
        self.attention_norm = nn.LayerNorm(width, bias=False)
        self.qkv = nn.Linear(width, 3 * width, bias=False)
        self.attention_out = nn.Linear(width, width, bias=False)
        self.mlp_norm = nn.LayerNorm(width, bias=False)
        self.mlp_in = nn.Linear(width, 4 * width, bias=False)
        self.mlp_out = nn.Linear(4 * width, width, bias=False)

    def forward(self, x):
        batch, time, width = x.shape
        q, k, v = self.qkv(self.attention_norm(x)).split(width, dim=2)
        q, k, v = (t.view(batch, time, self.heads, width // self.heads).transpose(1, 2) for t in (q, k, v))
        p = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=True)
        x = x + self.attention_out(y.transpose(1, 2).contiguous().view(batch, time, width))
        return x + self.mlp_out(F.gelu(self.mlp_in(self.mlp_norm(x))))


class Gpt(nn.Module):
    def __init__(self, vocab, context, width, heads, layers, dropout):
        super().__init__()
        self.token_embedding = nn.Embedding(vocab, width)
        self.position_embedding = nn.Embedding(context, width)
        self.blocks = nn.ModuleList(Block(width, heads, dropout) for _ in range(layers))
        self.final_norm = nn.LayerNorm(width, bias=False)
        self.head = nn.Linear(width, vocab, bias=False)
        self.head.weight = self.token_embedding.weight
        for name, p in self.named_parameters():
            if p.dim() >= 2:
                std = 0.02 / math.sqrt(2 * layers) if name.endswith(("attention_out.weight", "mlp_out.weight")) else 0.02
                nn.init.normal_(p, 0.0, std)

    def forward(self, tokens):
        positions = torch.arange(tokens.size(1), device=tokens.device)
        x = self.token_embedding(tokens) + self.position_embedding(positions)
        for block in self.blocks:
            x = block(x)
        return self.head(self.final_norm(x))


def main():
    args = arguments(DEFAULTS)
    torch.manual_seed(args["seed"])
    train_data, val_data, vocab = load_chars(args["corpus"])
    model = Gpt(vocab, args["context"], args["embedding"], args["heads"], args["layers"], args["dropout"])
    train(model, train_data, val_data, args)


if __name__ == "__main__":
    main()
