"""What every benchmark script shares: the run's conditions, a plain-text table, an atomic JSON write.

Benchmarks are plain scripts (``python benchmarks/<name>.py --help``); each prints a table and can
write a JSON record holding the figures *and* the conditions they were measured under (machine,
device, thread count, torch version, date, load average), because a speed figure without them
cannot be compared with anything.
"""
from __future__ import annotations

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
