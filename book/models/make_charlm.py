"""Reproduce book/models/charlm.pt, the character model that chapters 7 and 9 load.

    python book/models/make_charlm.py            # writes book/models/charlm.pt (about 3.1 MB)
    python book/models/make_charlm.py --out /tmp/charlm.pt --device cuda

It is the package's ``python -m lstm_course train`` recipe with the settings the committed file was trained with,
fixed here (not read from the package's defaults, which later sweeps may move): the 90/5/5 split of the
Shakespeare corpus, one LSTM layer x 384 with embedding 64 (one layer, so every hidden unit is directly readable in
chapter 9), B=32, T=32, AdamW lr 7e-3 with weight decay 0.1, warm-up + cosine, clip 1.0, bf16 autocast where the
CPU/GPU computes it natively, a fixed number of steps, and evaluation on the whole validation part. The validation
loss is stored in the checkpoint (``extra["val_loss"]``, nats/char) and the chapters glue it from there.
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path

import torch

from lstm_course.checkpoint import save_checkpoint
from lstm_course.corpus import load_text
from lstm_course.data import split_text
from lstm_course.device import get_device, seed_everything
from lstm_course.models import CharLM, CharLMConfig
from lstm_course.training import TrainConfig, evaluate_lm, train_lm
from lstm_course.vocab import CharVocab

# the committed model's settings (the package defaults of 2026-12-03), with a step budget instead of the CLI's time
# budget so a re-run is the same run
MODEL = dict(embed_dim=64, hidden_size=384, num_layers=1, dropout=0.0)
TRAIN = dict(batch_size=32, bptt=32, lr=7e-3, min_lr=0.0, weight_decay=0.1, betas=(0.9, 0.99), clip=1.0, warmup_steps=50,
             max_steps=9000, eval_every=1000, eval_batches=20, seed=0, amp_dtype="auto", optimizer="adamw")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("charlm.pt"))
    parser.add_argument("--device", default=None, help="default: the best available")
    parser.add_argument("--steps", type=int, default=TRAIN["max_steps"], help="optimisation steps (default: %(default)s)")
    parser.add_argument("--seconds", type=float, default=None,
                        help="also stop after this much training time (default: none; the cosine decay follows whichever "
                             "budget is closer to being used up, so a time-limited run is only reproducible in its step count)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: torch's choice; 1 is fastest on a machine shared with other jobs)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    seed_everything(0)
    text = load_text("shakespeare")
    train_text, val_text, _ = split_text(text)
    vocab = CharVocab.from_text(text)
    config = CharLMConfig(vocab_size=len(vocab), **MODEL)
    model = CharLM(config).to(get_device(args.device))
    train_config = TrainConfig(**{**TRAIN, "max_steps": args.steps, "max_seconds": args.seconds})
    history = train_lm(model, vocab.encode(train_text), vocab.encode(val_text), train_config)
    # the whole validation part, one state carried through each of 16 streams, float32
    val = evaluate_lm(model, vocab.encode(val_text), batch_size=16, bptt=256)
    extra = {"train_config": train_config, "history": history.to_dict(), "source": "shakespeare",
             "val_loss": val, "steps": len(history.step), "script": "book/models/make_charlm.py"}
    save_checkpoint(args.out, model.cpu(), vocab, config, extra=extra)
    print(f"{len(history.step)} steps in {history.seconds[-1]:.0f} s; validation {val / math.log(2):.3f} bits/char; "
          f"saved {args.out} ({args.out.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
