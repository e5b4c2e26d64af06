"""Seq2Seq: teacher forcing vs step-by-step decoding, padding, beam search exactness, learning a toy task.

The toy task is string reversal over a 4-letter alphabet (the dates data set has its own tests;
the book's chapter measures exact match on dates).
"""
import itertools
import random

import pytest
import torch

from lstm_course.seq2seq import (EOS_ID, NUM_SPECIAL, PAD_ID, SOS_ID, Seq2Seq, attention_matrix, decode_texts,
                                 exact_match, ids_to_text, make_batch, text_to_ids, train_seq2seq)
from lstm_course.vocab import CharVocab

VOCAB = CharVocab("abcd")
VS = len(VOCAB) + NUM_SPECIAL


def reverse_pairs(n, seed):
    r = random.Random(seed)
    out = []
    for _ in range(n):
        s = "".join(r.choice("abcd") for _ in range(r.randint(2, 5)))
        out.append((s, s[::-1]))
    return out


def model(attention="general", seed=0, **kw):
    torch.manual_seed(seed)
    return Seq2Seq(VS, VS, embed_dim=8, hidden_size=16, attention=attention, **kw).double().eval()


def test_make_batch_layout_and_round_trip():
    src, lengths, tgt_in, tgt_out = make_batch([("abc", "cba"), ("d", "dd")], VOCAB, VOCAB)
    a, b, c, d = (VOCAB.stoi[ch] + NUM_SPECIAL for ch in "abcd")
    assert src.tolist() == [[a, b, c], [d, PAD_ID, PAD_ID]]
    assert lengths.tolist() == [3, 1]
    assert tgt_in.tolist() == [[SOS_ID, c, b, a], [SOS_ID, d, d, PAD_ID]]
    assert tgt_out.tolist() == [[c, b, a, EOS_ID], [d, d, EOS_ID, -100]]
    assert ids_to_text(text_to_ids("dab", VOCAB) + [EOS_ID, a], VOCAB) == "dab"  # stops at EOS
    with pytest.raises(ValueError, match="at least one"):
        make_batch([], VOCAB, VOCAB)


@pytest.mark.parametrize("attention", ["general", "dot", None])
def test_teacher_forcing_equals_step_by_step(attention):
    m = model(attention, num_layers=2)
    src, lengths, tgt_in, _ = make_batch([("abcd", "dcba"), ("ab", "ba")], VOCAB, VOCAB)
    logits = m(src, lengths, tgt_in)
    assert logits.shape == (2, 5, VS)
    enc_out, mask, state = m.encode(src, lengths)
    for t in range(tgt_in.shape[1]):
        step, state = m._decode(tgt_in[:, t:t + 1], state, enc_out, mask)
        torch.testing.assert_close(step[:, 0], logits[:, t], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("attention", ["general", None])
def test_padded_source_equals_alone(attention):
    m = model(attention)
    pairs = [("ab", "ba"), ("abcdab", "badcba"), ("c", "c")]
    src, lengths, tgt_in, _ = make_batch(pairs, VOCAB, VOCAB)
    logits = m(src, lengths, tgt_in)
    for b, pair in enumerate(pairs):
        s1, l1, t1, _ = make_batch([pair], VOCAB, VOCAB)
        alone = m(s1, l1, t1)[0]
        torch.testing.assert_close(logits[b, :t1.shape[1]], alone, rtol=1e-10, atol=1e-12)


def test_masked_loss_and_greedy_shapes():
    m = model()
    src, lengths, tgt_in, tgt_out = make_batch([("ab", "ba"), ("abcd", "dcba")], VOCAB, VOCAB)
    logits = m(src, lengths, tgt_in)
    changed = logits.detach().clone()
    changed[0, 3:] = 1e3  # beyond "ba" + EOS: padding
    torch.testing.assert_close(m.loss(changed, tgt_out), m.loss(logits, tgt_out).detach())
    out = m.greedy_decode(src, lengths, max_len=7)
    assert len(out) == 2 and all(isinstance(x, list) and len(x) <= 7 and EOS_ID not in x for x in out)


def sequence_logp(m, src, lengths, body, max_len):
    """Total log-prob of `body` (+ EOS when it finished before max_len) under teacher forcing."""
    tgt = list(body) + ([EOS_ID] if len(body) < max_len else [])
    logits = m(src, lengths, torch.tensor([[SOS_ID] + tgt[:-1]]))
    return logits[0].log_softmax(-1)[torch.arange(len(tgt)), torch.tensor(tgt)].sum().item()


@pytest.mark.parametrize("seed", [0, 1])
def test_wide_beam_is_exact_search_and_beam_one_is_greedy(seed):
    # With a beam wider than the number of hypotheses, beam search must find the best sequence
    # among ALL sequences of length <= max_len (brute force over every id sequence).
    m = model(seed=seed)
    with torch.no_grad():
        m.out.bias[EOS_ID] += 1.0  # make EOS competitive so finished and unfinished hypotheses compete
    src, lengths, _, _ = make_batch([("abca", "")], VOCAB, VOCAB)
    max_len = 3
    body_ids = [i for i in range(VS) if i != EOS_ID]
    with torch.no_grad():
        best = max((sequence_logp(m, src, lengths, body, max_len), list(body))
                   for n in range(max_len + 1) for body in itertools.product(body_ids, repeat=n))
        beam = m.beam_decode(src, lengths, max_len, beam_size=VS ** max_len)[0]
        assert beam == best[1]
        greedy = m.greedy_decode(src, lengths, max_len)[0]
        assert m.beam_decode(src, lengths, max_len, beam_size=1)[0] == greedy
        assert sequence_logp(m, src, lengths, greedy, max_len) <= best[0] + 1e-9


def test_learns_reversal_and_attends_to_the_character_it_writes():
    train, test = reverse_pairs(2000, 0), reverse_pairs(200, 1)
    torch.manual_seed(0)
    m = Seq2Seq(VS, VS, embed_dim=16, hidden_size=48)
    before = exact_match(m, test, VOCAB, VOCAB)
    losses = train_seq2seq(m, train, VOCAB, VOCAB, steps=150, batch_size=64, lr=1e-2, progress=False)
    assert losses[-1] < losses[0] / 5
    after = exact_match(m, test, VOCAB, VOCAB)
    assert before < 0.2 and after >= 0.9, (before, after)
    assert exact_match(m, test[:40], VOCAB, VOCAB, beam_size=3) >= 0.9
    # reversal: output character t is source character L-1-t, so the trained attention is anti-diagonal.
    # Uniform (or ignored) attention puts the largest weight anywhere but there.
    hits = rows = 0
    for s, t in test[:60]:
        w = attention_matrix(m, s, t, VOCAB, VOCAB)  # (L + 1, L)
        peaks = w[:len(t)].argmax(dim=1).tolist()
        hits += sum(p == len(s) - 1 - k for k, p in enumerate(peaks))
        rows += len(t)
    assert hits / rows >= 0.8, hits / rows


@pytest.mark.parametrize("attention", ["general", "dot"])
def test_attention_weights_are_a_distribution_over_the_real_source(attention):
    m = model(attention)
    src, lengths, tgt_in, _ = make_batch([("abcd", "dcba"), ("ab", "ba")], VOCAB, VOCAB)
    w = m.attention_weights(src, lengths, tgt_in)
    assert w.shape == (2, 5, 4) and w.dtype == torch.float64
    assert torch.all(w[1, :, 2:] == 0)  # "ab" is padded to 4: nothing on the padding
    torch.testing.assert_close(w.sum(-1), torch.ones(2, 5, dtype=torch.float64))
    assert w.min() >= 0
    # the weights differ between steps and positions: not a constant (uniform) distribution
    assert (w[0].max(dim=1).values - w[0].min(dim=1).values).max() > 1e-3


def test_general_score_with_identity_matrix_equals_dot_score():
    # score(h, e) = h . W_a e: with W_a = I the two score functions must give the same weights
    general, dot = model("general"), model("dot")
    dot.load_state_dict({k: v for k, v in general.state_dict().items() if k != "W_a.weight"})
    src, lengths, tgt_in, _ = make_batch([("abcab", "bacba"), ("dd", "dd")], VOCAB, VOCAB)
    with torch.no_grad():
        general.W_a.weight.copy_(torch.eye(16, dtype=torch.float64))
    torch.testing.assert_close(general.attention_weights(src, lengths, tgt_in),
                               dot.attention_weights(src, lengths, tgt_in))
    with torch.no_grad():
        general.W_a.weight.mul_(3.0)  # sharper scores: a different distribution
    assert not torch.allclose(general.attention_weights(src, lengths, tgt_in),
                              dot.attention_weights(src, lengths, tgt_in))


def test_attention_matrix_holds_the_weights_greedy_decoding_used():
    m = model("general", seed=3)
    src_text = "abcda"
    recorded = []
    original = m._weights

    def record(dec_out, enc_out, mask):  # the weights of each decoding step, as the decoder computes them
        w = original(dec_out, enc_out, mask)
        recorded.append(w[0, -1])
        return w

    m._weights = record
    out = decode_texts(m, [src_text], VOCAB, VOCAB, max_len=6)[0]
    del m._weights
    steps = torch.stack(recorded)  # (steps, S): one row per character written, plus EOS if it was emitted
    w = attention_matrix(m, src_text, out, VOCAB, VOCAB)
    assert w.shape == (len(out) + 1, len(src_text)) and w.dtype == torch.float32
    torch.testing.assert_close(w[:len(steps)], steps.float(), rtol=1e-5, atol=1e-6)


def test_attention_weights_bad_arguments():
    src, lengths, tgt_in, _ = make_batch([("ab", "ba")], VOCAB, VOCAB)
    with pytest.raises(ValueError, match="expected a model with attention .* got attention=None"):
        model(None).attention_weights(src, lengths, tgt_in)
    with pytest.raises(ValueError, match="tgt_in"):
        model().attention_weights(src, lengths, tgt_in[0])
    with pytest.raises(ValueError, match="non-empty source"):
        attention_matrix(model(), "", "ab", VOCAB, VOCAB)


def test_bad_arguments():
    with pytest.raises(ValueError, match="expected attention 'dot', 'general' or None, got 'bahdanau'"):
        Seq2Seq(VS, VS, attention="bahdanau")
    with pytest.raises(ValueError, match="eos_id"):
        Seq2Seq(VS, VS, eos_id=VS)
    m = model()
    src, lengths, tgt_in, _ = make_batch([("ab", "ba")], VOCAB, VOCAB)
    with pytest.raises(ValueError, match="max_len"):
        m.greedy_decode(src, lengths, 0)
    with pytest.raises(ValueError, match="beam_size"):
        m.beam_decode(src, lengths, 5, beam_size=0)
    with pytest.raises(ValueError, match="src_lengths"):
        m(src, torch.tensor([3]), tgt_in)
    with pytest.raises(ValueError, match="tgt_in"):
        m(src, lengths, tgt_in[0])
    with pytest.raises(ValueError, match=r"expected src of shape \(B, S\) with S >= 1, got \(1, 0\)"):
        m(src[:, :0], torch.tensor([1]), tgt_in)  # a source of length 0
    with pytest.raises(ValueError, match="expected at least one .* pair to train on, got none"):
        train_seq2seq(m, [], VOCAB, VOCAB, steps=1, progress=False)
