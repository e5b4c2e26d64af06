"""Character LM quality within a wall-clock budget: the package's default model and training settings.

    python benchmarks/charlm.py --text PATH --seconds S [--threads N] [--device D] [--json OUT] [--save MODEL.pt]

Trains ``CharLM(CharLMConfig.shakespeare(V))`` with ``train_lm`` and ``TrainConfig.shakespeare()`` (the
defaults plus Muon for the LSTM's gate matrices; only ``max_seconds`` is set, to S) on the first 90% of the
text for S seconds of wall time, then scores the last 10% (held out, never trained on) with ``evaluate_lm``:
mean nats per character over the whole validation text, state carried through it, in float32. The final
evaluation is not part of the budget; no evaluation happens during training. The last printed line is
``val_nats_per_char=<value> val_bits_per_char=<value>``.

``--model-set name=value`` / ``--train-set name=value`` (repeatable) override single fields of the
defaults, for experiments; the JSON records the configuration that ran.
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import time
from pathlib import Path
from typing import Any

import torch

import _common  # noqa: F401  (puts the checkout on sys.path)
from _common import conditions, override_fields, read_split, print_table, set_threads, write_json
from lstm_course.models import CharLM, CharLMConfig
from lstm_course.training import TrainConfig, evaluate_lm, resolve_amp_dtype, train_lm


def _curve(history: Any, points: int = 200) -> dict[str, list]:
    """At most ``points`` evenly spaced entries of the training history (step, seconds, loss, lr), for plots."""
    n = len(history.step)
    keep = sorted({round(i * (n - 1) / max(1, points - 1)) for i in range(min(n, points))}) if n else []
    return {name: [getattr(history, name)[i] for i in keep] for name in ("step", "seconds", "train_loss", "lr")}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--text", required=True, help="a UTF-8 text file (e.g. tiny-shakespeare)")
    p.add_argument("--seconds", type=float, required=True, help="wall-clock training budget in seconds")
    p.add_argument("--val-frac", type=float, default=0.1, help="held-out fraction at the end (default 0.1)")
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's choice)")
    p.add_argument("--device", default=None, help="device (default: lstm_course.device.get_device())")
    p.add_argument("--model-set", action="append", default=[], metavar="NAME=VALUE",
                   help="override a CharLMConfig field of the default (repeatable)")
    p.add_argument("--train-set", action="append", default=[], metavar="NAME=VALUE",
                   help="override a TrainConfig field of the default (repeatable)")
    p.add_argument("--progress", action="store_true", help="show the training progress bar")
    p.add_argument("--json", default=None, help="write the results to this JSON file")
    p.add_argument("--save", default=None, metavar="PATH",
                   help="also save the trained model (lstm_course.checkpoint format) to PATH, e.g. to sample from it")
    args = p.parse_args(argv)
    if not args.seconds > 0:
        p.error(f"expected --seconds > 0, got {args.seconds}")
    path = Path(args.text)
    vocab, train_ids, val_ids = read_split(path, args.val_frac, p)

    from lstm_course.device import get_device
    set_threads(args.threads)
    device = get_device(args.device)

    model_cfg = override_fields(CharLMConfig.shakespeare(len(vocab)), args.model_set, "--model-set", p)
    train_cfg = override_fields(TrainConfig.shakespeare(max_seconds=args.seconds), args.train_set, "--train-set", p)
    torch.manual_seed(train_cfg.seed)
    model = CharLM(model_cfg).to(device)

    start = time.perf_counter()
    history = train_lm(model, train_ids, None, train_cfg, progress=args.progress)
    train_seconds = time.perf_counter() - start
    steps = history.step[-1] if history.step else 0
    chars = steps * train_cfg.batch_size * train_cfg.bptt  # (last chunk of an epoch may be shorter)
    t0 = time.perf_counter()
    val = evaluate_lm(model, val_ids)  # float32, whole held-out text
    eval_seconds = time.perf_counter() - t0
    last = history.train_loss[-min(50, len(history.train_loss)):] if history.train_loss else [math.nan]

    record = {
        "benchmark": "charlm", "text": str(path), "text_chars": len(train_ids) + len(val_ids), "vocab_size": len(vocab),
        "train_chars": len(train_ids), "val_chars": len(val_ids), "budget_seconds": args.seconds,
        **conditions(device),
        "model_config": dataclasses.asdict(model_cfg), "train_config": dataclasses.asdict(train_cfg),
        "parameters": model.num_parameters(), "steps": steps, "train_seconds": train_seconds,
        "chars_trained": chars, "epochs": chars / len(train_ids), "chars_per_second": chars / train_seconds,
        "train_loss_last50": sum(last) / len(last), "eval_seconds": eval_seconds,
        "val_nats_per_char": val, "val_bits_per_char": val / math.log(2),
        "amp_dtype_used": resolve_amp_dtype(train_cfg.amp_dtype, device) or "float32",
        "curve": _curve(history),
    }
    m, t = model_cfg, train_cfg
    print(f"CharLM {m.num_layers}x{m.hidden_size} (E={m.embed_dim}, dropout={m.dropout}, {record['parameters']:,} "
          f"parameters); B={t.batch_size} T={t.bptt} {t.optimizer} lr={t.lr} amp={t.amp_dtype}; device={device}, "
          f"threads={record['threads']}, torch {torch.__version__}, load average {record.get('load_average')}")
    print_table(["measure", "value"], [
        ["training wall time (s)", train_seconds], ["steps", steps], ["characters trained", chars],
        ["epochs", record["epochs"]], ["characters / s", round(record["chars_per_second"])],
        ["train loss, last 50 steps (nats/char)", record["train_loss_last50"]],
        ["validation (nats/char)", val], ["validation (bits/char)", record["val_bits_per_char"]],
        ["evaluation time (s, not in budget)", eval_seconds],
    ])
    write_json(args.json, record)
    if args.save is not None:
        from lstm_course.checkpoint import save_checkpoint
        saved = save_checkpoint(args.save, model, vocab, model_cfg,
                                extra={"train_config": train_cfg, "history": history.to_dict(),
                                       "val_nats_per_char": val, "text": str(path), "val_frac": args.val_frac})
        print(f"saved the model to {saved}")
    print(f"val_nats_per_char={val:.4f} val_bits_per_char={val / math.log(2):.4f}")
    return record


if __name__ == "__main__":
    main()
