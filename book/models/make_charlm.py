"""Reproduce book/models/charlm.pt, the character model that chapters 7 and 9 load.

    python book/models/make_charlm.py            # writes book/models/charlm.pt (about 1.5 MB)
    python book/models/make_charlm.py --out /tmp/charlm.pt --device cuda

It is the package's ``python -m lstm_course train`` recipe (90/5/5 split of the Shakespeare corpus,
TBPTT, evaluation on the validation part, atomic checkpoint) with a smaller model than the CLI's
``shakespeare`` preset, so that the committed file stays small. A fixed number of steps (not a
time limit) makes the run the same on every machine, up to floating-point differences between
CPUs/GPUs and thread counts.
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path

from lstm_course.checkpoint import save_checkpoint
from lstm_course.corpus import load_text
from lstm_course.data import split_text
from lstm_course.device import get_device, seed_everything
from lstm_course.models import CharLM, CharLMConfig
from lstm_course.training import TrainConfig, evaluate_lm, train_lm
from lstm_course.vocab import CharVocab

# the model chapters 7 and 9 look inside: one layer, so every hidden unit is directly readable
MODEL = dict(embed_dim=64, hidden_size=256, num_layers=1, dropout=0.0)
TRAIN = dict(batch_size=32, bptt=64, max_steps=3000, eval_every=200, eval_batches=20, seed=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("charlm.pt"))
    parser.add_argument("--device", default=None, help="default: the best available")
    args = parser.parse_args()

    seed_everything(0)
    text = load_text("shakespeare")
    train_text, val_text, _ = split_text(text)
    vocab = CharVocab.from_text(text)
    config = CharLMConfig(vocab_size=len(vocab), **MODEL)
    model = CharLM(config).to(get_device(args.device))
    train_config = TrainConfig(**TRAIN)
    history = train_lm(model, vocab.encode(train_text), vocab.encode(val_text), train_config)
    val = evaluate_lm(model, vocab.encode(val_text), batch_size=train_config.batch_size, bptt=train_config.bptt)
    extra = {"train_config": train_config, "history": history.to_dict(), "source": "shakespeare",
             "val_loss": val, "steps": len(history.step), "script": "book/models/make_charlm.py"}
    save_checkpoint(args.out, model.cpu(), vocab, config, extra=extra)
    print(f"{len(history.step)} steps in {history.seconds[-1]:.0f} s; validation {val / math.log(2):.3f} bits/char; "
          f"saved {args.out} ({args.out.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
