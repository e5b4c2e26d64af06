"""What every benchmark script shares: the run's conditions, a plain-text table, an atomic JSON write.

Benchmarks are plain scripts (``python benchmarks/<name>.py --help``); each prints a table and can
write a JSON record holding the figures *and* the conditions they were measured under (machine,
device, thread count, torch version, date, load average), because a speed figure without them
cannot be compared with anything.
"""
from __future__ import annotations

import argparse
import ast
import dataclasses
import datetime as _dt
import json
import os
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any, Sequence

import torch

# Run from a checkout without installing the package: benchmarks/ sits next to lstm_course/.
_ROOT = Path(__file__).resolve().parent.parent
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))


def cpu_name() -> str:
    """The CPU model string (Linux /proc/cpuinfo), else ``platform.processor()``."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


# the instruction sets that decide how fast bf16 and float32 LSTM kernels run on a CPU
_SPEED_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")


def cpu_flags() -> list[str]:
    """Which of the speed-relevant CPU features (AVX2, AVX-512, AVX-512 BF16, AMX) this CPU reports (Linux)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                have = set(line.split(":", 1)[1].split())
                return [f for f in _SPEED_FLAGS if f in have]
    except OSError:
        pass
    return []


def set_threads(threads: int | None) -> int:
    """Use ``threads`` intra-op threads (``None`` = leave torch's choice); return the number in use."""
    if threads is not None:
        if threads < 1:
            raise SystemExit(f"expected --threads >= 1, got {threads}")
        torch.set_num_threads(threads)
    return torch.get_num_threads()


def conditions(device: torch.device) -> dict[str, Any]:
    """The facts a reader needs to compare this run with another one."""
    info: dict[str, Any] = {
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": cpu_name(),
        "cpu_flags": cpu_flags(),
        "logical_cpus": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "device": str(device),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    try:
        info["load_average"] = [round(x, 2) for x in os.getloadavg()]  # other users of the same cores
    except (AttributeError, OSError):
        pass
    return info


def override_fields(obj: Any, assignments: list[str], flag: str, parser: argparse.ArgumentParser) -> Any:
    """A copy of dataclass ``obj`` with ``name=value`` assignments applied (values parsed as Python literals)."""
    names = {f.name for f in dataclasses.fields(obj)}
    changes = {}
    for item in assignments:
        name, sep, raw = item.partition("=")
        if not sep or name not in names:
            parser.error(f"expected {flag} NAME=VALUE with NAME one of {sorted(names)}, got {item!r}")
        try:
            changes[name] = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            changes[name] = raw  # a bare string such as bfloat16
    try:
        return dataclasses.replace(obj, **changes)
    except (TypeError, ValueError) as err:
        parser.error(f"{flag}: {err}")


def read_split(path: Path, val_frac: float, parser: argparse.ArgumentParser) -> tuple[Any, torch.Tensor, torch.Tensor]:
    """(vocabulary, first ``1 - val_frac`` of the text's ids, the rest) of the UTF-8 text at ``path``.

    The vocabulary holds every character of the file, so validation never meets an unknown one. Bad input ends
    in ``parser.error`` ("expected ..., got ..."), as the rest of a benchmark's arguments do.
    """
    from lstm_course.vocab import CharVocab

    if not 0 < val_frac < 1:
        parser.error(f"expected 0 < --val-frac < 1, got {val_frac}")
    if not path.is_file():
        parser.error(f"expected --text to be an existing file, got {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        parser.error(f"expected UTF-8 text in {path}, got undecodable bytes at offset {err.start}")
    vocab = CharVocab.from_text(text)
    ids = vocab.encode(text)  # (N,)
    n_train = int(len(ids) * (1 - val_frac))
    train_ids, val_ids = ids[:n_train], ids[n_train:]
    if len(val_ids) < 2:
        parser.error(f"expected a text long enough for a validation part, got {len(ids)} characters")
    return vocab, train_ids, val_ids


def print_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print rows as an aligned plain-text table (floats to 4 significant digits)."""
    def fmt(v: Any) -> str:
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    cells = [[fmt(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(header)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    print("  ".join("-" * w for w in widths))
    for r in cells:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)))


def write_json(path: str | os.PathLike | None, record: dict[str, Any]) -> None:
    """Write ``record`` to ``path`` atomically (temp file + rename); ``None`` = do nothing."""
    if path is None:
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".part")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(record, f, indent=2)
            f.write("\n")
        os.chmod(tmp, 0o644)  # mkstemp makes it private; results are meant to be read and committed
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    print(f"wrote {path}")
