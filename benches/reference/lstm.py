"""PyTorch twin of Muse's LSTM benchmark: a character LSTM on shakespeare-1m.txt.

Usage: python lstm.py corpus=PATH [steps=1000] ...; prints one JSON line of results.
"""

import torch

from common import arguments, load_chars, train

DEFAULTS = {"corpus": "", "steps": 1000, "batch_size": 32, "context": 128, "embedding": 128,
            "hidden": 256, "layers": 2, "lr": 2e-3, "min_lr": 2e-4, "warmup": 100,
            "weight_decay": 0.01, "clip": 1.0, "eval_batches": 100, "seed": 1234}


class CharLstm(torch.nn.Module):
    def __init__(self, vocab, embedding, hidden, layers):
        super().__init__()
        self.embedding = torch.nn.Embedding(vocab, embedding)
        self.lstm = torch.nn.LSTM(embedding, hidden, layers, batch_first=True)
        self.head = torch.nn.Linear(hidden, vocab)

    def forward(self, x):
        output, _ = self.lstm(self.embedding(x))
        return self.head(output)


def main():
    args = arguments(DEFAULTS)
    torch.manual_seed(args["seed"])
    train_data, val_data, vocab = load_chars(args["corpus"])
    model = CharLstm(vocab, args["embedding"], args["hidden"], args["layers"])
    train(model, train_data, val_data, args)


if __name__ == "__main__":
    main()
