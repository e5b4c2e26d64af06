"""Metrics: hand-computable cases first, then agreement with torch, then errors."""
import math

import pytest
import torch

from lstm_course.metrics import (bits_per_char, cross_entropy, distinct_n, mean_interval, perplexity, repetition_rate,
                                 word_fraction, words)


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


def test_words_lowercases_and_keeps_inner_apostrophes():
    assert words("Thou BLUSH'd, o'er-bold 3rd") == ["thou", "blush'd", "o'er", "bold", "rd"]
    assert words("  \n..") == []
    with pytest.raises(TypeError, match="expected text as a str"):
        words(["not", "text"])


def test_word_fraction_counts_words_found_in_the_vocabulary():
    vocab = set(words("to be or not to be"))
    assert word_fraction("To be, or NOT.", vocab) == 1.0
    assert word_fraction("to bex ornot be", vocab) == pytest.approx(2 / 4)  # to, be found; bex, ornot not
    assert math.isnan(word_fraction("!!! 123", vocab))  # no words: nothing to count


def test_mean_interval_hand_case_and_properties():
    mean, low, high = mean_interval([1.0, 1.0, 1.0])
    assert (mean, low, high) == (1.0, 1.0, 1.0)
    values = [0.1, 0.3, 0.2, 0.5, 0.4]
    mean, low, high = mean_interval(values)
    assert mean == pytest.approx(0.3)
    assert min(values) <= low < mean < high <= max(values)
    assert mean_interval(values) == (mean, low, high)  # seeded: the same interval every time
    _, low90, high90 = mean_interval(values, level=0.9)
    assert low <= low90 and high90 <= high  # a lower level gives a narrower interval
    # an effect that is positive for every seed has an interval above zero; a mixed one straddles it
    assert mean_interval([0.02, 0.03, 0.025, 0.04, 0.01])[1] > 0
    _, low, high = mean_interval([0.02, -0.03, 0.01, -0.02, 0.015])
    assert low < 0 < high


def test_mean_interval_errors():
    with pytest.raises(ValueError, match="at least 2 values"):
        mean_interval([1.0])
    with pytest.raises(ValueError, match="finite"):
        mean_interval([1.0, float("nan")])
    with pytest.raises(ValueError, match="0 < level < 1"):
        mean_interval([1.0, 2.0], level=1.5)
