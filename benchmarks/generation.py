"""Sampling cost: carrying the LSTM state vs re-feeding the whole prefix for every new character.

    python benchmarks/generation.py [--lengths 500,1000,2000] [--hidden 512] [--layers 2] [--threads N] [--json OUT]

A randomly initialised ``CharLM`` (V=65, ``--layers`` x ``--hidden``; only timing matters here)
generates each length from a one-character prompt in two ways:

* ``carried state`` -- :func:`lstm_course.sampling.generate`: the prompt is read once, then each new
  character is one LSTM step from the carried ``(h, c)``: cost linear in the length.
* ``re-feed prefix`` -- every new character runs the model over the whole text so far from a zero
  state (what a model without a carried state must do): cost quadratic in the length.

The table shows the seconds for each length, milliseconds per character, and the ratio of the time at
each length to the time at the first one: ~2x per doubling is linear, ~4x is quadratic.
"""
from __future__ import annotations

import argparse
import time

import torch
from torch import nn

import _common  # noqa: F401  (puts the checkout on sys.path)
from _common import conditions, print_table, set_threads, write_json
from lstm_course.models import CharLM, CharLMConfig
from lstm_course.sampling import generate, sample_next


@torch.no_grad()
def refeed_generate(model: nn.Module, prompt: torch.Tensor, length: int, generator: torch.Generator) -> torch.Tensor:
    """Like :func:`generate`, but each step re-reads the whole prefix from a zero state."""
    model.eval()
    seq = prompt.clone()  # (P,)
    for _ in range(length):
        logits, _ = model(seq.unsqueeze(0), None)  # (1, len(seq), V)
        tok = sample_next(logits[0, -1], generator=generator)
        seq = torch.cat([seq, tok.view(1).to(seq.device)])
    return seq[prompt.numel():].cpu()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lengths", default="500,1000,2000", help="comma-separated lengths (default 500,1000,2000)")
    p.add_argument("--hidden", type=int, default=512, help="H (default 512)")
    p.add_argument("--layers", type=int, default=2, help="LSTM layers (default 2)")
    p.add_argument("--vocab", type=int, default=65, help="V (default 65, tiny-shakespeare's)")
    p.add_argument("--no-refeed", action="store_true", help="time only the carried-state sampler")
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's choice)")
    p.add_argument("--device", default=None, help="device (default: lstm_course.device.get_device())")
    p.add_argument("--json", default=None, help="write the results to this JSON file")
    args = p.parse_args(argv)
    try:
        lengths = [int(s) for s in args.lengths.split(",") if s.strip()]
    except ValueError:
        p.error(f"expected --lengths as comma-separated integers, got {args.lengths!r}")
    if not lengths or min(lengths) < 1:
        p.error(f"expected --lengths >= 1, got {args.lengths!r}")

    from lstm_course.device import get_device
    set_threads(args.threads)
    device = get_device(args.device)
    torch.manual_seed(0)
    cfg = CharLMConfig(vocab_size=args.vocab, hidden_size=args.hidden, num_layers=args.layers)
    model = CharLM(cfg).to(device)
    prompt = torch.tensor([0], dtype=torch.long, device=device)
    generate(model, prompt, 20)  # warm-up (first-call allocations, kernel selection)

    methods = {"carried state": lambda n, g: generate(model, prompt, n, generator=g)}
    if not args.no_refeed:
        methods["re-feed prefix"] = lambda n, g: refeed_generate(model, prompt, n, g)
    results, rows = [], []
    for name, fn in methods.items():
        first = None
        for n in lengths:
            g = torch.Generator(device=device).manual_seed(0)
            _sync(device)
            t0 = time.perf_counter()
            out = fn(n, g)
            _sync(device)
            s = time.perf_counter() - t0
            assert out.numel() == n
            first = first or (n, s)
            ratio = s / first[1]
            results.append({"method": name, "length": n, "seconds": s, "ms_per_char": 1e3 * s / n,
                            "time_vs_first_length": ratio})
            rows.append([name, n, s, 1e3 * s / n, f"{ratio:.2f}x (length {n / first[0]:.0f}x)"])
    record = {"benchmark": "generation", "hidden": args.hidden, "layers": args.layers, "vocab": args.vocab,
              "parameters": model.num_parameters(), **conditions(device), "results": results}
    print(f"generation from a {args.layers}x{args.hidden} CharLM (random weights), device={device}, "
          f"threads={record['threads']}")
    print_table(["method", "length", "seconds", "ms/char", "time vs first length"], rows)
    write_json(args.json, record)
    return record


if __name__ == "__main__":
    main()
