"""Metrics: hand-computable cases first, then agreement with torch, then errors."""
import math

import pytest
import torch

from lstm_course.metrics import bits_per_char, bootstrap_ci, cross_entropy, distinct_n, perplexity, repetition_rate


def test_cross_entropy_uniform_is_log_v():
    # uniform logits over V classes: -log(1/V) = log V for every target
    logits = torch.zeros(2, 3, 5)
    targets = torch.randint(0, 5, (2, 3))
    assert cross_entropy(logits, targets).item() == pytest.approx(math.log(5))


def test_cross_entropy_ignores_padding_and_matches_torch():
    torch.manual_seed(0)
    logits = torch.randn(2, 4, 6, requires_grad=True)
    targets = torch.tensor([[1, 2, -100, -100], [0, 5, 3, 4]])
    ce = cross_entropy(logits, targets)
    real = torch.cat([logits[0, :2], logits[1]])
    expected = torch.nn.functional.cross_entropy(real, torch.tensor([1, 2, 0, 5, 3, 4]))
    torch.testing.assert_close(ce, expected)
    changed = logits.detach().clone()
    changed[0, 2:] = 1e3  # padding logits do not matter
    torch.testing.assert_close(cross_entropy(changed, targets), ce.detach())
    ce.backward()
    assert logits.grad[0, 2:].abs().sum() == 0
    assert cross_entropy(logits, torch.where(targets < 0, 7, targets), ignore_index=7).item() == pytest.approx(ce.item())


def test_cross_entropy_errors():
    with pytest.raises(ValueError, match=r"expected targets of shape \(2, 4\)"):
        cross_entropy(torch.zeros(2, 4, 6), torch.zeros(2, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="at least one target"):
        cross_entropy(torch.zeros(2, 6), torch.full((2,), -100))


def test_perplexity_and_bits():
    assert perplexity(0.0) == 1.0
    assert perplexity(math.log(65)) == pytest.approx(65)  # uniform over 65 characters
    assert bits_per_char(math.log(2)) == pytest.approx(1.0)
    assert bits_per_char(math.log(256)) == pytest.approx(8.0)
    assert perplexity(torch.tensor(math.log(3.0))) == pytest.approx(3.0)  # 0-d tensors accepted
    for bad in (-0.1, float("nan")):
        with pytest.raises(ValueError, match="expected a cross-entropy in nats >= 0"):
            perplexity(bad)
        with pytest.raises(ValueError, match="nats >= 0"):
            bits_per_char(bad)


def test_distinct_n_hand_cases():
    assert distinct_n("abcd", 1) == 1.0
    assert distinct_n("aaaa", 1) == 0.25
    assert distinct_n("abab", 2) == pytest.approx(2 / 3)  # ab, ba, ab
    assert distinct_n([1, 2, 1, 2], 2) == distinct_n(torch.tensor([1, 2, 1, 2]), 2) == pytest.approx(2 / 3)
    assert distinct_n("ab", 3) == 0.0  # no trigrams at all


def test_repetition_rate_hand_cases():
    assert repetition_rate("abcdefgh", 4) == 0.0
    assert repetition_rate("abcabc", 3) == pytest.approx(1 / 4)  # abc, bca, cab, abc(repeat)
    assert repetition_rate("aaaaaa", 2) == pytest.approx(4 / 5)  # first 'aa' new, the 4 others repeat
    assert repetition_rate("abc", 4) == 0.0


def test_repetition_rate_is_one_minus_distinct_on_random_sequences():
    g = torch.Generator().manual_seed(0)
    for _ in range(5):
        seq = torch.randint(0, 3, (40,), generator=g)
        for n in (1, 2, 3):
            assert repetition_rate(seq, n) == pytest.approx(1 - distinct_n(seq, n))


def test_ngram_errors():
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="expected n to be an int >= 1"):
            distinct_n("abc", bad)
    with pytest.raises(ValueError, match="1-D tensor"):
        repetition_rate(torch.zeros(2, 3), 2)


def test_bootstrap_ci_hand_cases():
    # constant values: every resample has the same mean
    assert bootstrap_ci([0.3, 0.3, 0.3]) == pytest.approx((0.3, 0.3, 0.3))
    # two values 0 and 1: resampled means are 0, 0.5, 1 with probabilities 1/4, 1/2, 1/4, so the
    # central 95 % reaches both ends and the central 40 % is the middle value only
    assert bootstrap_ci([0.0, 1.0]) == pytest.approx((0.5, 0.0, 1.0))
    assert bootstrap_ci([0.0, 1.0], confidence=0.4) == pytest.approx((0.5, 0.5, 0.5))


def test_bootstrap_ci_shapes_types_and_determinism():
    mean, low, high = bootstrap_ci(torch.tensor([0.1, 0.4, 0.2, 0.9]))
    assert all(isinstance(x, float) for x in (mean, low, high))
    assert 0.1 <= low < mean < high <= 0.9  # inside the values' range, around their mean
    assert bootstrap_ci((0.1, 0.4, 0.2, 0.9)) == pytest.approx((mean, low, high))  # a tuple, float64
    assert bootstrap_ci([0.1, 0.4, 0.2, 0.9]) == bootstrap_ci([0.1, 0.4, 0.2, 0.9])  # same arguments, same interval
    assert bootstrap_ci([0.1, 0.4, 0.2, 0.9], seed=1) != (mean, low, high)


def test_bootstrap_ci_random_cases_cover_and_shrink():
    gen = torch.Generator().manual_seed(0)
    covered, widths = 0, {}
    for trial in range(200):
        x = torch.randn(30, generator=gen, dtype=torch.float64)  # true mean 0
        _, low, high = bootstrap_ci(x, n_resamples=2000, seed=trial)
        covered += low <= 0 <= high
    assert 0.85 <= covered / 200 <= 1.0  # about 95 % coverage (a little less: bootstrap at n=30)
    for n in (10, 1000):
        _, low, high = bootstrap_ci(torch.randn(n, generator=gen), n_resamples=2000)
        widths[n] = high - low
    assert widths[1000] < widths[10] / 5  # width shrinks like 1/sqrt(n): 10x here
    # for many values the mean is nearly normal: the 95 % interval is mean +- 1.96 standard errors
    big = torch.randn(2000, generator=gen, dtype=torch.float64)
    mean, low, high = bootstrap_ci(big)
    se = big.std().item() / 2000 ** 0.5
    assert 1.85 < (high - mean) / se < 2.07 and 1.85 < (mean - low) / se < 2.07
    _, lo90, hi90 = bootstrap_ci(x, confidence=0.9)
    _, lo99, hi99 = bootstrap_ci(x, confidence=0.99)
    assert lo99 < lo90 < hi90 < hi99


def test_bootstrap_ci_errors():
    with pytest.raises(ValueError, match="at least one value"):
        bootstrap_ci([])
    with pytest.raises(ValueError, match="finite"):
        bootstrap_ci([1.0, float("nan")])
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        bootstrap_ci([1.0, 2.0], confidence=95)
    with pytest.raises(ValueError, match="n_resamples"):
        bootstrap_ci([1.0, 2.0], n_resamples=0)
