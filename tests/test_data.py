"""Tests for lstm_course.data: splits, batchify, TBPTT chunks, the long-range task."""
import pytest
import torch

from lstm_course.data import batchify, long_range_task, num_tbptt_batches, split_text, tbptt_batches


def test_split_contiguous_ordered_non_overlapping():
    text = "".join(chr(65 + i % 26) for i in range(1000))
    train, val, test = split_text(text, 0.1, 0.2)
    assert train + val + test == text
    assert (len(train), len(val), len(test)) == (700, 100, 200)


def test_split_zero_fraction_and_tiny_text():
    assert split_text("abcdef", 0.0, 0.0) == ("abcdef", "", "")
    train, val, test = split_text("abc", 0.01, 0.01)  # positive fractions get one char each
    assert (train, val, test) == ("a", "b", "c")
    with pytest.raises(ValueError, match="long enough"):
        split_text("ab", 0.01, 0.01)
    with pytest.raises(ValueError, match=r"val_frac in \[0, 1\)"):
        split_text("abcdef", -0.1)
    with pytest.raises(ValueError, match="< 1"):
        split_text("abcdef", 0.5, 0.5)


def test_batchify_hand_case():
    ids = torch.arange(14)
    s = batchify(ids, 3)
    assert s.shape == (3, 4)
    assert s.tolist() == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]


def test_batchify_errors():
    with pytest.raises(ValueError, match="too short for batch_size=4"):
        batchify(torch.arange(7), 4)
    with pytest.raises(ValueError, match="batch_size >= 1"):
        batchify(torch.arange(7), 0)
    with pytest.raises(ValueError, match=r"shape \(N,\)"):
        batchify(torch.zeros(2, 5, dtype=torch.long), 1)


def test_tbptt_chunks_cover_stream_with_shifted_targets():
    s = batchify(torch.arange(24), 2)  # (2, 12)
    chunks = list(tbptt_batches(s, 5))
    assert [x.shape[1] for x, _ in chunks] == [5, 5, 1]
    assert len(chunks) == num_tbptt_batches(12, 5)
    for x, y in chunks:
        assert torch.equal(y, x + 1)  # consecutive ids: target is next token
    xs = torch.cat([x for x, _ in chunks], dim=1)
    assert torch.equal(xs, s[:, :-1])  # every position except the last is an input once


def test_tbptt_randomised_lengths():
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        B, L, T = (int(v) for v in torch.randint(1, 9, (3,), generator=g))
        L += 1
        s = torch.randint(0, 50, (B, L), generator=g)
        chunks = list(tbptt_batches(s, T))
        assert sum(x.shape[1] for x, _ in chunks) == L - 1
        assert all(x.shape == y.shape and x.shape[0] == B and x.shape[1] <= T for x, y in chunks)


def test_tbptt_errors_raised_eagerly():
    s = torch.zeros(2, 5, dtype=torch.long)
    with pytest.raises(ValueError, match="bptt"):
        tbptt_batches(s, 0)
    with pytest.raises(ValueError, match="L >= 2"):
        tbptt_batches(torch.zeros(2, 1, dtype=torch.long), 3)


def test_long_range_task_label_rule_balance_and_determinism():
    x, y = long_range_task(1001, length=30, num_symbols=8, seed=3)
    assert x.shape == (1001, 30) and y.shape == (1001,)
    assert x.dtype == torch.long and y.dtype == torch.long
    assert int(x.min()) >= 0 and int(x.max()) < 8
    assert torch.equal(y, (x[:, 0] + x[:, -1]) % 2)
    assert int(y.sum()) in (500, 501)
    x2, y2 = long_range_task(1001, length=30, num_symbols=8, seed=3)
    assert torch.equal(x, x2) and torch.equal(y, y2)
    x3, _ = long_range_task(1001, length=30, num_symbols=8, seed=4)
    assert not torch.equal(x, x3)


def test_long_range_task_ends_alone_are_uninformative():
    x, y = long_range_task(8000, length=10, num_symbols=4, seed=0)
    # Knowing only the first (or only the last) symbol leaves the label at chance.
    for col in (0, -1):
        for s in range(4):
            rate = y[x[:, col] == s].float().mean().item()
            assert abs(rate - 0.5) < 0.05
    # The middle is independent noise: every symbol appears about equally often.
    counts = torch.bincount(x[:, 1:-1].reshape(-1), minlength=4).float()
    assert (counts / counts.sum() - 0.25).abs().max() < 0.01


def test_long_range_task_odd_alphabet_and_errors():
    x, y = long_range_task(200, length=5, num_symbols=3, seed=1)
    assert int(x.max()) <= 2 and torch.equal(y, (x[:, 0] + x[:, -1]) % 2)
    with pytest.raises(ValueError, match="length >= 2"):
        long_range_task(10, length=1)
    with pytest.raises(ValueError, match="num_symbols >= 2"):
        long_range_task(10, num_symbols=1)


def test_defaults_and_smallest_valid_inputs():
    # each function accepts its smallest valid argument, so an off-by-one in a check shows up here
    text = "".join(chr(65 + i % 26) for i in range(100))
    assert tuple(map(len, split_text(text))) == (90, 5, 5)  # default fractions 0.05 / 0.05
    assert batchify(torch.arange(5), 1).shape == (1, 5)  # B = 1
    assert batchify(torch.arange(5), 2).tolist() == [[0, 1], [2, 3]]  # L = 2 exactly
    assert [x.tolist() for x, _ in tbptt_batches(torch.arange(2)[None], 1)] == [[[0]]]  # L = 2, bptt = 1
    x, y = long_range_task(1, length=2, num_symbols=2)  # n = 1, length = 2, two symbols
    assert x.shape == (1, 2) and int(y[0]) == int(x[0, 0] + x[0, 1]) % 2
    x, _ = long_range_task(400)
    assert x.shape == (400, 30) and int(x.max()) == 7  # default length 30, alphabet of 8
    assert torch.equal(long_range_task(50)[0], long_range_task(50, seed=0)[0])  # default seed 0


def test_tbptt_chunk_count_matches_num_tbptt_batches_and_no_chunk_is_empty():
    for L in range(2, 14):
        for bptt in range(1, 7):
            chunks = list(tbptt_batches(torch.arange(L)[None], bptt))
            assert len(chunks) == num_tbptt_batches(L, bptt) == -(-(L - 1) // bptt)
            assert all(x.shape[1] >= 1 for x, _ in chunks)
    assert num_tbptt_batches(1, 3) == 0  # a stream of one token has no (input, target) pair
    assert num_tbptt_batches(11, 5) == 2


def test_data_error_messages_name_what_was_expected_and_got():
    with pytest.raises(TypeError, match="^expected text of type str, got bytes$"):
        split_text(b"abc")
    with pytest.raises(ValueError, match=r"^expected val_frac in \[0, 1\), got 1.0$"):
        split_text("abcdef", 1.0, 0.0)
    with pytest.raises(ValueError, match=r"^expected test_frac in \[0, 1\), got -0.1$"):
        split_text("abcdef", 0.1, -0.1)
    with pytest.raises(ValueError, match=r"^expected val_frac \+ test_frac < 1, got 1.0$"):
        split_text("abcdef", 0.6, 0.4)
    with pytest.raises(ValueError, match=r"^the data is too short for batch_size=4: expected at least 8 tokens "
                                         r"\(2 per stream\), got 7; use a smaller batch size or more text$"):
        batchify(torch.arange(7), 4)
    with pytest.raises(ValueError, match=r"^expected ids of shape \(N,\), got \(2, 5\)$"):
        batchify(torch.zeros(2, 5, dtype=torch.long), 1)
    with pytest.raises(ValueError, match=r"^expected ids of shape \(N,\), got list$"):
        batchify([1, 2, 3], 1)
    with pytest.raises(ValueError, match=r"^expected streams of shape \(B, L\) with L >= 2, got \(5,\)$"):
        tbptt_batches(torch.arange(5), 2)
    with pytest.raises(ValueError, match=r"^expected streams of shape \(B, L\) with L >= 2, got list$"):
        tbptt_batches([[1, 2]], 2)
    with pytest.raises(ValueError, match="^expected bptt >= 1, got 0$"):
        num_tbptt_batches(5, 0)
    with pytest.raises(ValueError, match="^expected n >= 1, got 0$"):
        long_range_task(0)
