"""Device choice and reproducibility.

Nothing else in the package names a device: code asks :func:`get_device` or uses the device of a
tensor / parameter it was given (:func:`model_device`), so the same notebook runs on a laptop CPU,
Apple MPS or a GPU.
"""
from __future__ import annotations

import itertools
import os
import random
from contextlib import contextmanager
from typing import Iterator, Optional, Union

import numpy as np
import torch
from torch import nn

DEVICE_ENV = "LSTM_COURSE_DEVICE"


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def get_device(prefer: Optional[Union[str, torch.device]] = None) -> torch.device:
    """Return the device to compute on.

    Args:
        prefer: an explicit device (``"cuda:1"``, ``torch.device(...)``). Default: ``None``.

    Order: ``prefer`` if given; else the environment variable ``LSTM_COURSE_DEVICE``; else CUDA if
    available; else Apple MPS if available; else the CPU.

    Raises:
        ValueError: ``prefer`` (or the environment variable) is not a device string torch understands.
    """
    choice = prefer if prefer is not None else (os.environ.get(DEVICE_ENV) or None)
    if choice is not None:
        if isinstance(choice, torch.device):
            return choice
        try:
            return torch.device(str(choice).strip())
        except (RuntimeError, ValueError) as err:
            source = "prefer" if prefer is not None else DEVICE_ENV
            raise ValueError(f"{source}: expected a device such as 'cuda', 'mps' or 'cpu', got {choice!r}") from err
    if torch.cuda.is_available():
        return torch.device("cuda")
    if _mps_available():
        return torch.device("mps")
    return torch.device(type="cpu")


def model_device(model: nn.Module) -> torch.device:
    """The device of ``model``'s first parameter (or buffer): where its inputs must go.

    Args:
        model: any ``nn.Module``.

    A module with neither parameters nor buffers computes wherever its inputs are; it gets
    ``torch.get_default_device()``, where tensors created without ``device=`` land.
    """
    for t in itertools.chain(model.parameters(), model.buffers()):
        return t.device
    return torch.get_default_device()


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy and torch (CPU and every CUDA device).

    Args:
        seed: a non-negative integer (NumPy accepts seeds in ``[0, 2**32)``).

    Same seed, same code, same device → same numbers. Across different hardware, kernels may still
    differ in the last bits.
    """
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise TypeError(f"expected an int seed, got {type(seed).__name__}")
    if not 0 <= int(seed) < 2**32:
        raise ValueError(f"expected a seed in [0, 2**32), got {seed}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA/MPS device's default generator
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


@contextmanager
def step_by_step_kernels(device: Union[str, torch.device]) -> Iterator[None]:
    """Inside the block, ``nn.LSTM`` on a CPU uses ATen's own kernel instead of oneDNN's; elsewhere a no-op.

    For sampling, which calls the model once per generated token with T=1: oneDNN's LSTM is the faster
    one over whole sequences, but for a one-step call of a 2 x 512 model it took 2.97-3.22 ms against ATen's
    1.15-1.52 ms on a 2-core AVX2 CPU (benchmarks/README.md, "Generation"). Only ``torch.backends.mkldnn.enabled``
    changes, and it is restored on exit; the results are the same up to float rounding.
    """
    if torch.device(device).type != "cpu" or not torch.backends.mkldnn.enabled:
        yield
        return
    mkldnn = torch.backends.mkldnn
    with mkldnn.flags(enabled=False, deterministic=mkldnn.deterministic, allow_tf32=mkldnn.allow_tf32,
                      fp32_precision=mkldnn.fp32_precision):
        yield
