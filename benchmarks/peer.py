"""The LSTM default and a nanoGPT-style transformer side by side: same text, split, cores, budget and seeds.

    python benchmarks/peer.py --text PATH --seconds S [--seeds 0 1 2] [--threads N] [--device D]
                              [--models lstm transformer] [--lstm-set NAME=VALUE] [--lstm-train-set NAME=VALUE]
                              [--gpt-set NAME=VALUE] [--gpt-train-set NAME=VALUE] [--json OUT]

For each seed, each model is trained by the course's own ``lstm_course.training.train_lm`` (Muon for the weight
matrices each model lists in ``matrix_blocks()`` and AdamW for the rest, warm-up and cosine decay to the end of the
budget, clipping, the same ``amp_dtype="auto"``) on the first 90% of the text for S seconds of wall time, one model
after the other in the same process and threads:

- ``lstm``: ``CharLM(CharLMConfig.shakespeare(V))`` with ``TrainConfig.shakespeare()`` (what benchmarks/charlm.py
  runs);
- ``transformer``: ``CharTransformer(GPTConfig.cpu_180s(V))`` from benchmarks/transformer.py with
  ``train_config_cpu_180s()`` (T = its context length).

Both are then scored on the last 10% (held out), in float32, outside the budget, two ways:

- **(a) windows**: the held-out text cut into non-overlapping windows of the transformer's context length, each
  read from scratch — the LSTM's state reset to zeros at every window — and every position scored, so both models
  predict each character from the same (at most T) characters before it;
- **(b) carried**: the LSTM reads the whole held-out text with its state carried (``evaluate_lm``, the figure
  benchmarks/charlm.py reports). A transformer has no state to carry, so (b) does not exist for it.

The last table gives, per model, the mean over the seeds with the sample standard deviation and the range.
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import statistics
import time
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn as nn

import _common  # noqa: F401  (puts the checkout on sys.path)
from _common import conditions, override_fields, print_table, read_split, set_threads, write_json
from report import spread_text
from lstm_course.models import CharLM, CharLMConfig
from lstm_course.training import TrainConfig, evaluate_lm, resolve_amp_dtype, train_lm
from transformer import CharTransformer, GPTConfig, train_config_cpu_180s

MODELS = ("lstm", "transformer")


@torch.no_grad()
def window_nats(model: nn.Module, ids: torch.Tensor, window: int, batch_size: int = 64) -> float:
    """Mean nats per character over non-overlapping windows of ``window`` characters, each read from scratch.

    Window k predicts ``ids[k*window + 1 : (k+1)*window + 1]`` from ``ids[k*window : (k+1)*window]`` with the
    state ``None`` (zeros for an LSTM), so every character is predicted from at most ``window`` characters before
    it. The tail shorter than a window is left out. Float32; the model's mode is restored.
    """
    n = (ids.numel() - 1) // window
    if n < 1:
        raise ValueError(f"window_nats: expected at least {window + 1} ids, got {ids.numel()}")
    device = next(model.parameters()).device
    x_all = ids[: n * window].view(n, window)  # (n, T)
    y_all = ids[1 : n * window + 1].view(n, window)  # (n, T)
    was_training = model.training
    model.eval()
    total = 0.0
    try:
        for s in range(0, n, batch_size):
            x, y = x_all[s : s + batch_size].to(device), y_all[s : s + batch_size].to(device)
            logits, _ = model(x, None)  # (B, T, V)
            total += nn.functional.cross_entropy(logits.float().reshape(-1, logits.size(-1)), y.reshape(-1),
                                                 reduction="sum").item()
    finally:
        model.train(was_training)
    return total / (n * window)


def _builders(vocab_size: int, seconds: float, args: argparse.Namespace,
              parser: argparse.ArgumentParser) -> tuple[dict[str, Callable[[int], tuple]], int]:
    """({model name: seed -> (model config, train config, model)}, the transformer's context length), with the
    command line's overrides applied."""
    lstm_cfg = override_fields(CharLMConfig.shakespeare(vocab_size), args.lstm_set, "--lstm-set", parser)
    gpt_cfg = override_fields(GPTConfig.cpu_180s(vocab_size), args.gpt_set, "--gpt-set", parser)
    lstm_train = override_fields(TrainConfig.shakespeare(max_seconds=seconds), args.lstm_train_set,
                                 "--lstm-train-set", parser)
    gpt_train = override_fields(train_config_cpu_180s(max_seconds=seconds), args.gpt_train_set,
                                "--gpt-train-set", parser)
    if gpt_train.bptt > gpt_cfg.block_size:
        parser.error(f"expected the transformer's bptt <= block_size={gpt_cfg.block_size}, got {gpt_train.bptt}")

    def build(model_cfg: Any, train_cfg: TrainConfig, cls: type) -> Callable[[int], tuple]:
        def make(seed: int) -> tuple[Any, TrainConfig, nn.Module]:
            torch.manual_seed(seed)  # the initial weights depend on the seed too
            return model_cfg, dataclasses.replace(train_cfg, seed=seed), cls(model_cfg)
        return make

    return ({"lstm": build(lstm_cfg, lstm_train, CharLM), "transformer": build(gpt_cfg, gpt_train, CharTransformer)},
            gpt_cfg.block_size)


def _spread(values: list[float]) -> dict[str, float]:
    return {"mean": statistics.fmean(values), "sd": statistics.stdev(values) if len(values) > 1 else 0.0,
            "min": min(values), "max": max(values), "n": len(values)}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--text", required=True, help="a UTF-8 text file (e.g. tiny-shakespeare)")
    p.add_argument("--seconds", type=float, required=True, help="wall-clock training budget per model and seed")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds to run (default 0 1 2)")
    p.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS), help="which models (default both)")
    p.add_argument("--val-frac", type=float, default=0.1, help="held-out fraction at the end (default 0.1)")
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's choice)")
    p.add_argument("--device", default=None, help="device (default: lstm_course.device.get_device())")
    for flag, what in (("--lstm-set", "CharLMConfig"), ("--lstm-train-set", "the LSTM's TrainConfig"),
                       ("--gpt-set", "GPTConfig"), ("--gpt-train-set", "the transformer's TrainConfig")):
        p.add_argument(flag, action="append", default=[], metavar="NAME=VALUE",
                       help=f"override a field of {what} (repeatable)")
    p.add_argument("--json", default=None, help="write the results to this JSON file")
    args = p.parse_args(argv)
    if not args.seconds > 0:
        p.error(f"expected --seconds > 0, got {args.seconds}")
    if len(set(args.seeds)) != len(args.seeds):
        p.error(f"expected distinct --seeds, got {args.seeds}")
    path = Path(args.text)
    vocab, train_ids, val_ids = read_split(path, args.val_frac, p)

    from lstm_course.device import get_device
    set_threads(args.threads)
    device = get_device(args.device)
    builders, window = _builders(len(vocab), args.seconds, args, p)
    if len(val_ids) < window + 1:
        p.error(f"expected a validation part of at least {window + 1} characters, got {len(val_ids)}")

    # one-time costs (oneDNN primitive creation, allocator growth) are paid by a few untimed steps of each
    # model first, so the model that happens to run first in the process does not lose part of its budget
    for name in args.models:
        _, train_cfg, model = builders[name](0)
        train_lm(model.to(device), train_ids, None, dataclasses.replace(train_cfg, max_steps=5, max_seconds=None,
                                                                        warmup_steps=1), progress=False)

    runs: list[dict[str, Any]] = []
    for seed in args.seeds:
        for name in args.models:
            model_cfg, train_cfg, model = builders[name](seed)
            model = model.to(device)
            start = time.perf_counter()
            history = train_lm(model, train_ids, None, train_cfg, progress=False)
            train_seconds = time.perf_counter() - start
            steps = history.step[-1] if history.step else 0
            chars = steps * train_cfg.batch_size * train_cfg.bptt
            last = history.train_loss[-min(50, len(history.train_loss)):] if history.train_loss else [math.nan]
            t0 = time.perf_counter()
            val_a = window_nats(model, val_ids, window)
            val_b = evaluate_lm(model, val_ids) if name == "lstm" else None
            run = {"model": name, "seed": seed, "parameters": model.num_parameters(), "steps": steps,
                   "train_seconds": train_seconds, "chars_per_second": chars / train_seconds,
                   "epochs": chars / len(train_ids), "train_loss_last50": sum(last) / len(last),
                   "val_nats_windows": val_a, "val_nats_carried": val_b, "eval_seconds": time.perf_counter() - t0,
                   "amp_dtype_used": resolve_amp_dtype(train_cfg.amp_dtype, device) or "float32",
                   "model_config": dataclasses.asdict(model_cfg), "train_config": dataclasses.asdict(train_cfg),
                   "load_average_after": conditions(device).get("load_average")}
            runs.append(run)
            print(f"{name} seed {seed}: {steps} steps, {run['chars_per_second']:.0f} chars/s, train loss "
                  f"{run['train_loss_last50']:.4f}, val (a) {val_a:.4f}"
                  + (f", val (b) {val_b:.4f}" if val_b is not None else "") + " nats/char", flush=True)

    summary = {}
    for name in args.models:
        mine = [r for r in runs if r["model"] == name]
        summary[name] = {
            "parameters": mine[0]["parameters"], "runs": len(mine),
            "steps": _spread([r["steps"] for r in mine]),
            "chars_per_second": _spread([r["chars_per_second"] for r in mine]),
            "val_nats_windows": _spread([r["val_nats_windows"] for r in mine]),
            "val_nats_carried": _spread([r["val_nats_carried"] for r in mine]) if name == "lstm" else None,
        }
    print(f"\n{args.seconds:g} s per run, {len(args.seeds)} seed(s); (a) windows of {window} characters read from "
          "scratch, (b) state carried through the held-out text; nats/char, mean ± sd [min, max]")
    print_table(["model", "parameters", "steps", "chars/s", "val (a) windows", "val (b) carried"], [
        [name, f"{s['parameters']:,}", round(s["steps"]["mean"]), round(s["chars_per_second"]["mean"]),
         spread_text(s["val_nats_windows"]), spread_text(s["val_nats_carried"])] for name, s in summary.items()])

    record = {"benchmark": "peer", "text": str(path), "text_chars": len(train_ids) + len(val_ids),
              "vocab_size": len(vocab), "train_chars": len(train_ids), "val_chars": len(val_ids),
              "budget_seconds": args.seconds, "seeds": args.seeds, "window": window, **conditions(device),
              "runs": runs, "summary": summary}
    write_json(args.json, record)
    return record


if __name__ == "__main__":
    main()
