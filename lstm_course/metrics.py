"""Numbers for comparing language models and their samples.

Losses are in nats (natural log), as ``F.cross_entropy`` returns them; the conversions are
``perplexity = exp(nats)`` and ``bits per character = nats / ln 2``. The sample statistics
(distinct-n, repetition rate) work on any sequence of hashable tokens: a string, a list of ids or
a 1-D tensor.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor


def cross_entropy(logits: Tensor, targets: Tensor, ignore_index: int = -100) -> Tensor:
    """Mean cross-entropy in nats over the positions whose target is not ``ignore_index``.

    Args:
        logits: (..., V) unnormalised scores, e.g. (B, T, V).
        targets: (...) class ids, same leading shape as ``logits``.
        ignore_index: target value to skip (padding). Default: -100.

    Returns:
        0-d tensor (differentiable).
    """
    if logits.dim() < 1 or tuple(targets.shape) != tuple(logits.shape[:-1]):
        raise ValueError(f"expected targets of shape {tuple(logits.shape[:-1])} for logits {tuple(logits.shape)}, "
                         f"got {tuple(targets.shape)}")
    if not bool((targets != ignore_index).any()):
        raise ValueError(f"expected at least one target different from ignore_index={ignore_index}, got none")
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=ignore_index)


def _nats(nats: float) -> float:
    v = float(nats)
    if math.isnan(v) or v < 0:
        raise ValueError(f"expected a cross-entropy in nats >= 0, got {nats!r}")
    return v


def perplexity(nats: float) -> float:
    """exp(nats): the effective number of equally likely choices per token."""
    return math.exp(_nats(nats))


def bits_per_char(nats: float) -> float:
    """nats / ln 2: the average code length per character under the model."""
    return _nats(nats) / math.log(2)


def _tokens(tokens: Sequence) -> list:
    if isinstance(tokens, Tensor):
        if tokens.dim() != 1:
            raise ValueError(f"expected a 1-D tensor of tokens, got shape {tuple(tokens.shape)}")
        return tokens.tolist()
    return list(tokens)


def _ngrams(tokens: list, n: int) -> list[tuple]:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"expected n to be an int >= 1, got {n!r}")
    return [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]


def distinct_n(tokens: Sequence, n: int) -> float:
    """Unique n-grams / total n-grams (1.0 = no n-gram repeats; near 0 = a loop).

    A sequence shorter than ``n`` has no n-grams and gives 0.0.
    """
    grams = _ngrams(_tokens(tokens), n)
    return len(set(grams)) / len(grams) if grams else 0.0


def repetition_rate(tokens: Sequence, n: int = 4) -> float:
    """Fraction of n-grams that already occurred earlier in the sequence (0.0 = none repeats).

    Every n-gram is either a first occurrence or a repeat, so this equals ``1 - distinct_n(tokens, n)``
    for the same n; it is kept as its own function because "fraction of the text that copies earlier
    text" is the question the sampling chapter asks. A sequence shorter than ``n`` gives 0.0.
    """
    grams = _ngrams(_tokens(tokens), n)
    if not grams:
        return 0.0
    seen: set = set()
    repeats = 0
    for g in grams:
        repeats += g in seen
        seen.add(g)
    return repeats / len(grams)


def bootstrap_ci(values: Sequence[float], confidence: float = 0.95, n_resamples: int = 10_000,
                 seed: int = 0) -> tuple[float, float, float]:
    """Mean of ``values`` and a percentile-bootstrap interval for it: ``(mean, low, high)``.

    Used for results measured over a few seeds: ``values`` holds one number per seed (for a paired
    comparison, the per-seed difference), and the interval says how far the mean could plausibly
    move with other seeds. Resampling ``n`` values with replacement ``n_resamples`` times, the
    interval is the central ``confidence`` share of the resampled means. With five seeds it is
    rough (it cannot be wider than the values' own range), so chapters show the values too.

    Args:
        values: one or more finite numbers (a list, tuple or 1-D tensor).
        confidence: the interval's share, strictly between 0 and 1. Default: 0.95.
        n_resamples: bootstrap resamples. Default: 10,000.
        seed: seed of the resampling; same arguments, same interval. Default: 0.
    """
    v = torch.as_tensor(values if not isinstance(values, Tensor) else values.detach().cpu(),
                        dtype=torch.float64).flatten()
    if v.numel() == 0:
        raise ValueError("expected at least one value, got none")
    if not bool(torch.isfinite(v).all()):
        raise ValueError(f"expected finite values, got {v.tolist()}")
    if not 0 < confidence < 1:
        raise ValueError(f"expected confidence strictly between 0 and 1, got {confidence!r}")
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, int) or n_resamples < 1:
        raise ValueError(f"expected n_resamples to be an int >= 1, got {n_resamples!r}")
    gen = torch.Generator().manual_seed(seed)
    idx = torch.randint(v.numel(), (n_resamples, v.numel()), generator=gen)  # (R, n)
    means = v[idx].mean(dim=1)  # (R,)
    alpha = (1 - confidence) / 2
    low, high = torch.quantile(means, torch.tensor([alpha, 1 - alpha], dtype=torch.float64)).tolist()
    return v.mean().item(), low, high
