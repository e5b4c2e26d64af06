"""Numbers for comparing language models and their samples.

Losses are in nats (natural log), as ``F.cross_entropy`` returns them; the conversions are
``perplexity = exp(nats)`` and ``bits per character = nats / ln 2``. The sample statistics
(distinct-n, repetition rate) work on any sequence of hashable tokens: a string, a list of ids or
a 1-D tensor. :func:`word_fraction` asks how much of a generated text is made of words a corpus
contains; :func:`mean_interval` turns one number per seed into a mean with a bootstrap interval.
"""
from __future__ import annotations

import math
import re
from typing import Collection, Sequence

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


# a word: letters, with inner apostrophes kept ("blush'd", "o'er"); digits and hyphens split words
_WORD = re.compile(r"[^\W\d_]+(?:['\u2019][^\W\d_]+)*")


def words(text: str) -> list[str]:
    """The words of ``text``, lower-cased: runs of letters, inner apostrophes kept (``"blush'd"``)."""
    if not isinstance(text, str):
        raise TypeError(f"expected text as a str, got {type(text).__name__}")
    return [w.lower() for w in _WORD.findall(text)]


def word_fraction(text: str, vocabulary: Collection[str]) -> float:
    """Fraction of the words of ``text`` (see :func:`words`) that occur in ``vocabulary``.

    ``vocabulary`` is a set of lower-cased words, e.g. ``set(words(corpus))``. A text without words gives
    ``nan`` (there is nothing to count), never a misleading 0 or 1.
    """
    found = words(text)
    if not found:
        return float("nan")
    return sum(w in vocabulary for w in found) / len(found)


def mean_interval(values: Sequence[float], level: float = 0.95, n_boot: int = 10_000,
                  seed: int = 0) -> tuple[float, float, float]:
    """``(mean, low, high)``: the mean of ``values`` (one per seed, say) and a bootstrap percentile interval.

    The interval resamples the values with replacement ``n_boot`` times (a fixed ``seed``, so a page that
    quotes it is reproducible) and takes the central ``level`` of the resampled means. With few values it is
    somewhat narrower than a t-interval; it never extends beyond the smallest and largest value.

    Raises:
        ValueError: fewer than 2 values, a non-finite value, or ``level`` outside (0, 1).
    """
    v = torch.as_tensor([float(x) for x in values], dtype=torch.float64)
    if v.numel() < 2:
        raise ValueError(f"expected at least 2 values for an interval, got {v.numel()}")
    if not torch.isfinite(v).all():
        raise ValueError(f"expected finite values, got {v.tolist()}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"expected 0 < level < 1, got {level!r}")
    g = torch.Generator().manual_seed(seed)
    idx = torch.randint(0, v.numel(), (n_boot, v.numel()), generator=g)
    means = v[idx].mean(dim=1)
    tail = (1.0 - level) / 2
    low, high = torch.quantile(means, torch.tensor([tail, 1.0 - tail], dtype=torch.float64)).tolist()
    return v.mean().item(), low, high
