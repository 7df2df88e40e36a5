"""Shared parts of the PyTorch reference scripts: data, batches, schedule, evaluation."""

import json
import math
import sys
import time

import torch


def load_chars(path, val_fraction=0.1):
    text = open(path, encoding="utf-8").read()
    chars = sorted(set(text))
    index = {c: i for i, c in enumerate(chars)}
    ids = torch.tensor([index[c] for c in text], dtype=torch.long)
    cut = len(ids) - int(len(ids) * val_fraction)
    return ids[:cut], ids[cut:], len(chars)


def batch(data, batch_size, context, generator):
    starts = torch.randint(0, len(data) - context - 1, (batch_size,), generator=generator)
    rows = torch.stack([data[s : s + context + 1] for s in starts.tolist()])
    return rows[:, :-1], rows[:, 1:]


def learning_rate(step, peak, floor, warmup, total):
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = min((step - warmup) / max(total - warmup, 1), 1.0)
    return floor + (peak - floor) * 0.5 * (1 + math.cos(math.pi * progress))


def decay_groups(model, weight_decay):
    decayed = [p for p in model.parameters() if p.dim() >= 2]
    others = [p for p in model.parameters() if p.dim() < 2]
    return [{"params": decayed, "weight_decay": weight_decay}, {"params": others, "weight_decay": 0.0}]


@torch.no_grad()
def evaluate(model, data, batches, batch_size, context):
    """Mean loss over `batches` batches of windows spaced evenly across `data`, the same
    windows Muse's evaluation reads."""
    model.eval()
    total = 0.0
    count = batches * batch_size
    last_start = len(data) - context - 1
    for index in range(batches):
        starts = [k * last_start // max(count - 1, 1) for k in range(index * batch_size, (index + 1) * batch_size)]
        rows = torch.stack([data[s : s + context + 1] for s in starts])
        x, y = rows[:, :-1], rows[:, 1:]
        logits = model(x)
        total += torch.nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1)).item()
    model.train()
    return total / batches


def train(model, train_data, val_data, args):
    optimizer = torch.optim.AdamW(decay_groups(model, args["weight_decay"]), lr=args["lr"], betas=(0.9, 0.99))
    generator = torch.Generator().manual_seed(args["seed"])
    step_ms = []
    for step in range(args["steps"]):
        started = time.perf_counter()
        lr = learning_rate(step, args["lr"], args["min_lr"], args["warmup"], args["steps"])
        for group in optimizer.param_groups:
            group["lr"] = lr
        x, y = batch(train_data, args["batch_size"], args["context"], generator)
        logits = model(x)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), args["clip"])
        optimizer.step()
        loss.item()
        step_ms.append((time.perf_counter() - started) * 1000)
    val_loss = evaluate(model, val_data, args["eval_batches"], args["batch_size"], args["context"])
    peak_mb = peak_resident_mb()
    result = {"ms_per_step": sum(step_ms) / len(step_ms), "val_loss": val_loss, "peak_mb": peak_mb,
              "threads": torch.get_num_threads(), "torch": torch.__version__}
    print(json.dumps(result))
    return result


def peak_resident_mb():
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def arguments(defaults):
    args = dict(defaults)
    for item in sys.argv[1:]:
        key, value = item.split("=", 1)
        args[key] = type(defaults[key])(value) if key in defaults else value
    return args
