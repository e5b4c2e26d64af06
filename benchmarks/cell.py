"""Forward+backward throughput of four LSTM implementations at the same shape.

    python benchmarks/cell.py [--batch 32] [--steps 128] [--hidden 256] [--repeats 5] [--threads N] [--compile]
                              [--json OUT]

Each implementation runs one layer over x of shape (T, B, I=H) from a zero state, then backward from
the sum of the outputs, ``--repeats`` times after ``--warmup`` untimed calls, the implementations taking
turns (round-robin, so a burst of load on a shared machine hits all of them alike); the table gives the median time and
characters (time steps x batch) per second, and the ratio to ``nn.LSTM`` (the fused library kernel:
oneDNN on a CPU, cuDNN on a GPU). Implementations:

* ``hand (python loop)``   -- :func:`lstm_course.cell.lstm_layer`, the hand-written cell in a Python loop
* ``nn.LSTMCell loop``     -- ``nn.LSTMCell`` called once per time step from Python
* ``scripted (TorchScript)`` -- :func:`lstm_course.cell.scripted_lstm_layer`
* ``nn.LSTM``              -- one call for the whole sequence
* ``compiled step (torch.compile)`` -- with ``--compile`` only: the hand-written step compiled by
  ``torch.compile`` (TorchScript's successor), called from the same Python loop. Only the step is compiled:
  compiling the whole loop unrolls all T steps into one graph, recompiled for every T. The first call, which
  compiles the forward and backward kernels, is timed apart and recorded as ``compile_seconds``.

The device is ``lstm_course.device.get_device()`` unless ``--device`` says otherwise.
"""
from __future__ import annotations

import argparse
import statistics
import time
from typing import Callable

import torch
from torch import Tensor, nn

import _common  # noqa: F401  (puts the checkout on sys.path)
from _common import conditions, print_table, set_threads, write_json
from lstm_course.cell import _cell, lstm_layer, scripted_lstm_layer


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_fwd_bwd(fn: Callable[[Tensor], Tensor], x: Tensor, params: list[Tensor], repeats: int,
                 warmup: int = 3) -> float:
    """Median seconds of forward + backward of ``fn(x)``, after ``warmup`` untimed calls.

    TorchScript's profiling executor specialises the graph during its first calls (the first two
    are several times slower), so one warm-up call is not enough for a fair comparison.
    """
    times = []
    for i in range(warmup + repeats):
        for p in params:
            p.grad = None
        _sync(x.device)
        t0 = time.perf_counter()
        fn(x).sum().backward()
        _sync(x.device)
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return statistics.median(times) if times else 0.0


def build(T: int, B: int, H: int, device: torch.device,
          compiled: bool = False) -> tuple[Tensor, dict[str, tuple[Callable, list[Tensor]]]]:
    """The input (T, B, H) and, per implementation, a function x -> outputs (T, B, H) and its parameters
    (with ``compiled``, also the torch.compile'd step in a Python loop, before nn.LSTM)."""
    torch.manual_seed(0)
    lstm = nn.LSTM(H, H).to(device)  # I = H
    cell = nn.LSTMCell(H, H).to(device)
    w = [lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0, lstm.bias_hh_l0]
    x = torch.randn(T, B, H, device=device)

    def cell_loop(x: Tensor) -> Tensor:
        h = c = x.new_zeros(x.shape[1], H)  # (B, H)
        outs = []
        for t in range(x.shape[0]):
            h, c = cell(x[t], (h, c))
            outs.append(h)
        return torch.stack(outs)  # (T, B, H)

    impls = {
        "hand (python loop)": (lambda x: lstm_layer(x, None, *w)[0], w),
        "nn.LSTMCell loop": (cell_loop, list(cell.parameters())),
        "scripted (TorchScript)": (lambda x: scripted_lstm_layer(x, None, *w)[0], w),
    }
    if compiled:
        step = torch.compile(_cell, dynamic=False)

        def compiled_loop(x: Tensor) -> Tensor:
            h = c = x.new_zeros(x.shape[1], H)  # (B, H)
            outs = []
            for t in range(x.shape[0]):
                h, c = step(x[t], h, c, *w)
                outs.append(h)
            return torch.stack(outs)  # (T, B, H)

        impls["compiled step (torch.compile)"] = (compiled_loop, w)
    impls["nn.LSTM"] = (lambda x: lstm(x)[0], list(lstm.parameters()))
    return x, impls


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, default=32, help="B (default 32)")
    p.add_argument("--steps", type=int, default=128, help="T, time steps (default 128)")
    p.add_argument("--hidden", type=int, default=256, help="H = I (default 256)")
    p.add_argument("--repeats", type=int, default=5, help="timed repetitions per implementation (default 5)")
    p.add_argument("--warmup", type=int, default=3, help="untimed calls first (default 3)")
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's choice)")
    p.add_argument("--compile", action="store_true",
                   help="also time the hand-written step compiled with torch.compile (compiling takes minutes on a CPU)")
    p.add_argument("--device", default=None, help="device (default: lstm_course.device.get_device())")
    p.add_argument("--json", default=None, help="write the results to this JSON file")
    args = p.parse_args(argv)
    for name in ("batch", "steps", "hidden", "repeats"):
        if getattr(args, name) < 1:
            p.error(f"expected --{name} >= 1, got {getattr(args, name)}")

    from lstm_course.device import get_device
    set_threads(args.threads)
    device = get_device(args.device)
    T, B, H = args.steps, args.batch, args.hidden
    x, impls = build(T, B, H, device, compiled=args.compile)
    compile_seconds = None
    for name, (fn, params) in impls.items():
        t0 = time.perf_counter()
        time_fwd_bwd(fn, x, params, repeats=0, warmup=1)  # torch.compile compiles on this first call
        if name.startswith("compiled"):
            compile_seconds = time.perf_counter() - t0
        time_fwd_bwd(fn, x, params, repeats=0, warmup=max(args.warmup - 1, 0))
    rounds: dict[str, list[float]] = {name: [] for name in impls}
    for _ in range(args.repeats):
        for name, (fn, params) in impls.items():
            rounds[name].append(time_fwd_bwd(fn, x, params, repeats=1, warmup=0))
    seconds = {name: statistics.median(ts) for name, ts in rounds.items()}
    ref = seconds["nn.LSTM"]
    kernel = {"cuda": "cuDNN", "cpu": "oneDNN/aten"}.get(device.type, device.type)
    rows, results = [], []
    for name, s in seconds.items():
        label = f"{name} [{kernel}]" if name == "nn.LSTM" else name
        cps = T * B / s
        rows.append([label, s * 1e3, round(cps), s / ref])
        results.append({"implementation": name, "seconds": s, "chars_per_s": cps, "time_vs_nn_lstm": s / ref})
    record = {"benchmark": "cell", "B": B, "T": T, "H": H, "repeats": args.repeats, "warmup": args.warmup,
              "compile_seconds": compile_seconds, **conditions(device), "results": results}
    print(f"LSTM layer forward+backward, B={B} T={T} I=H={H}, device={device}, threads={record['threads']}")
    print_table(["implementation", "ms", "chars/s", "time / nn.LSTM"], rows)
    if compile_seconds is not None:
        print(f"torch.compile: the first call (compiling forward and backward) took {compile_seconds:.1f} s")
    write_json(args.json, record)
    return record


if __name__ == "__main__":
    main()
