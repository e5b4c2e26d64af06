"""Splitting and batching token streams, and the long-range toy task of chapter 1.

Legend: N tokens in a stream, B batch size (number of parallel streams), L length of one stream
(``batchify`` output is (B, L)), T time steps per TBPTT chunk (``bptt``).

Truncated back-propagation through time (TBPTT) cuts the N tokens into B contiguous streams, one per
batch row, and walks along them in chunks of T steps; row b of chunk k+1 continues row b of chunk k,
so a model can carry its state from one chunk to the next::

    ids:      a b c d e f g h i j k l          (N = 12)
    batchify(ids, 3) -> [[a b c d],            (B = 3, L = 4)
                         [e f g h],
                         [i j k l]]
    tbptt_batches(streams, 2) -> x=[[a b],[e f],[i j]] y=[[b c],[f g],[j k]], then x=[[c],[g],[k]] y=[[d],[h],[l]]
"""
from __future__ import annotations

from typing import Iterator

import torch
from torch import Tensor


def split_text(text: str, val_frac: float = 0.05, test_frac: float = 0.05) -> tuple[str, str, str]:
    """Split ``text`` into contiguous, non-overlapping (train, val, test) pieces, in that order.

    Args:
        text: the whole corpus.
        val_frac: fraction of characters for validation, in [0, 1). Default: 0.05.
        test_frac: fraction for the test set, in [0, 1). Default: 0.05.

    The pieces concatenate back to ``text``. Contiguous pieces (not random lines) keep validation
    honest: a shuffled split would leak near-duplicate neighbouring lines into training.
    A piece with a positive fraction gets at least one character.

    Raises:
        ValueError: fractions outside [0, 1), ``val_frac + test_frac >= 1``, or a text too short to
            leave at least one character per requested piece.
    """
    if not isinstance(text, str):
        raise TypeError(f"expected text of type str, got {type(text).__name__}")
    for name, f in (("val_frac", val_frac), ("test_frac", test_frac)):
        if not 0.0 <= f < 1.0:
            raise ValueError(f"expected {name} in [0, 1), got {f}")
    if val_frac + test_frac >= 1.0:
        raise ValueError(f"expected val_frac + test_frac < 1, got {val_frac + test_frac}")
    N = len(text)
    n_val = max(1, int(N * val_frac)) if val_frac > 0 else 0
    n_test = max(1, int(N * test_frac)) if test_frac > 0 else 0
    n_train = N - n_val - n_test
    if n_train < 1:
        raise ValueError(f"expected a text long enough to split, got {N} characters")
    return text[:n_train], text[n_train : n_train + n_val], text[n_train + n_val :]


def batchify(ids: Tensor, batch_size: int) -> Tensor:
    """Cut a 1-d stream of N token ids into B contiguous streams.

    Args:
        ids: LongTensor (N,).
        batch_size: B, the number of streams (rows).

    Returns:
        Tensor (B, L) with L = N // B and row b = ``ids[b*L:(b+1)*L]``; the last ``N - B*L`` tokens
        are dropped. Stays on ``ids``' device.

    Raises:
        ValueError: ``ids`` is not 1-d, B < 1, or L < 2 (the data is too short for that batch size:
            each row needs an input and a next-token target).
    """
    if not isinstance(ids, Tensor) or ids.dim() != 1:
        shape = tuple(ids.shape) if isinstance(ids, Tensor) else type(ids).__name__
        raise ValueError(f"expected ids of shape (N,), got {shape}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"expected batch_size >= 1, got {batch_size}")
    N = ids.numel()
    L = N // batch_size
    if L < 2:
        raise ValueError(
            f"the data is too short for batch_size={batch_size}: expected at least {2 * batch_size} tokens "
            f"(2 per stream), got {N}; use a smaller batch size or more text"
        )
    return ids[: batch_size * L].reshape(batch_size, L)  # (B, L)


def tbptt_batches(streams: Tensor, bptt: int) -> Iterator[tuple[Tensor, Tensor]]:
    """Walk along (B, L) streams in chunks of at most ``bptt`` steps.

    Args:
        streams: Tensor (B, L) from :func:`batchify`.
        bptt: T, the chunk length (time steps back-propagated through).

    Yields:
        ``(x, y)``, each (B, n) with n = min(bptt, L - 1 - i) for i = 0, bptt, 2*bptt, … while i < L - 1;
        ``y`` is ``x`` shifted one step ahead (the next-token targets). Views, no copies.

    Raises:
        ValueError: bptt < 1 or streams not 2-d with L >= 2 (raised at the call, not on first iteration).
    """
    if not isinstance(bptt, int) or bptt < 1:
        raise ValueError(f"expected bptt (sequence length) >= 1, got {bptt}")
    if not isinstance(streams, Tensor) or streams.dim() != 2 or streams.shape[1] < 2:
        shape = tuple(streams.shape) if isinstance(streams, Tensor) else type(streams).__name__
        raise ValueError(f"expected streams of shape (B, L) with L >= 2, got {shape}")
    return _chunks(streams, bptt)


def _chunks(streams: Tensor, bptt: int) -> Iterator[tuple[Tensor, Tensor]]:
    L = streams.shape[1]
    for i in range(0, L - 1, bptt):
        n = min(bptt, L - 1 - i)
        yield streams[:, i : i + n], streams[:, i + 1 : i + 1 + n]  # (B, n), (B, n)


def num_tbptt_batches(length: int, bptt: int) -> int:
    """How many chunks :func:`tbptt_batches` yields for streams of length L = ``length``."""
    if bptt < 1:
        raise ValueError(f"expected bptt >= 1, got {bptt}")
    return max(0, -(-(length - 1) // bptt))


def long_range_task(n: int, length: int = 30, num_symbols: int = 8, seed: int = 0) -> tuple[Tensor, Tensor]:
    """A toy classification set whose label needs a memory of the first step.

    Each sequence has ``length`` symbols from ``[0, num_symbols)``. The label is
    ``(first + last) % 2``: neither end alone says anything about it, and the ``length - 2``
    symbols in between are uniform noise, so a model must carry the first symbol across the whole
    sequence. A vanilla RNN's memory of it fades with length; an LSTM's cell can keep it.

    Args:
        n: number of sequences.
        length: T, symbols per sequence (>= 2). Default: 30.
        num_symbols: alphabet size (>= 2). Default: 8.
        seed: seed of a private generator (the global RNG is untouched). Default: 0.

    Returns:
        ``(x, y)``: x LongTensor (n, length), y LongTensor (n,) of 0/1 labels, balanced
        (``n // 2`` or ``n - n // 2`` ones, in random order). Same arguments → same tensors.
    """
    if n < 1:
        raise ValueError(f"expected n >= 1, got {n}")
    if length < 2:
        raise ValueError(f"expected length >= 2, got {length}")
    if num_symbols < 2:
        raise ValueError(f"expected num_symbols >= 2, got {num_symbols}")
    g = torch.Generator().manual_seed(seed)
    y = torch.zeros(n, dtype=torch.long)
    y[: n // 2] = 1
    y = y[torch.randperm(n, generator=g)]  # (n,) balanced, shuffled
    x = torch.randint(0, num_symbols, (n, length), generator=g)  # (n, T)
    # Choose the last symbol among those with the right parity, so last is uniform given the label.
    half_even = (num_symbols + 1) // 2  # count of even symbols in [0, num_symbols)
    half_odd = num_symbols // 2
    want_odd_last = (x[:, 0] + y) % 2  # parity the last symbol needs
    u = torch.rand(n, generator=g)
    k_even = (u * half_even).long()
    k_odd = (u * half_odd).long()
    x[:, -1] = torch.where(want_odd_last == 1, 2 * k_odd + 1, 2 * k_even)
    return x, y
