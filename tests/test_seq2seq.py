"""Seq2Seq: teacher forcing vs step-by-step decoding, padding, beam search exactness, learning a toy task.

The toy task is string reversal over a 4-letter alphabet (the dates data set has its own tests;
the book's chapter measures exact match on dates).
"""
import copy
import inspect
import itertools
import math
import random
import re

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


# --- exact contracts: error messages, defaults, boundaries ---------------------------------------
# Helpers below build models whose output is known by hand, and spies that record what a function
# asked of the model, so the tests can state what decode_texts / exact_match / train_seq2seq do.

def constant_model(char):
    """A model that writes `char` (a VOCAB character, or None for EOS) at every step, whatever the input:
    zero output weights leave the logits equal to the output bias."""
    m = model()
    tok = EOS_ID if char is None else VOCAB.stoi[char] + NUM_SPECIAL
    with torch.no_grad():
        m.out.weight.zero_()
        m.out.bias.zero_()
        m.out.bias[tok] = 10.0  # log p(tok) ~ -1e-3, log p(EOS) ~ -10: no beam ever prefers stopping
    return m


def spy_decoders(m):
    """Record every greedy_decode / beam_decode call as (kind, batch size, max_len, beam_size)."""
    calls = []
    greedy, beam = m.greedy_decode, m.beam_decode

    def greedy_spy(src, lengths, max_len):
        calls.append(("greedy", src.shape[0], max_len, 1))
        return greedy(src, lengths, max_len)

    def beam_spy(*args, **kwargs):
        bound = inspect.signature(beam).bind(*args, **kwargs)
        bound.apply_defaults()  # a call that leaves beam_size out records the method's default
        a = bound.arguments
        calls.append(("beam", a["src"].shape[0], a["max_len"], a["beam_size"]))
        return beam(*args, **kwargs)

    m.greedy_decode, m.beam_decode = greedy_spy, beam_spy
    return calls


def test_seq2seq_documented_defaults():
    m = Seq2Seq(VS, VS)
    assert m.src_embed.embedding_dim == m.tgt_embed.embedding_dim == 32
    assert m.encoder.hidden_size == m.decoder.hidden_size == 128
    assert m.encoder.num_layers == m.decoder.num_layers == 1
    assert (m.sos_id, m.eos_id, m.pad_id, m.attention) == (SOS_ID, EOS_ID, PAD_ID, "general")


@pytest.mark.parametrize("name", ["sos_id", "eos_id", "pad_id"])
@pytest.mark.parametrize("value", [-1, VS])
def test_special_id_out_of_range_is_named_in_the_error(name, value):
    with pytest.raises(ValueError, match=rf"^expected 0 <= {name} < vocabulary sizes, got {value}$"):
        Seq2Seq(VS, VS, **{name: value})
    # the bound is the smaller vocabulary: an id valid for the target side only is still refused
    with pytest.raises(ValueError, match=rf"^expected 0 <= {name} < vocabulary sizes, got 3$"):
        Seq2Seq(3, VS, **{name: 3})


@pytest.mark.parametrize("pad_id", [PAD_ID, 4])
def test_pad_embedding_is_zero_and_gets_no_gradient(pad_id):
    # padding_idx: a PAD input contributes nothing and PAD's embedding stays zero while training
    torch.manual_seed(0)
    m = Seq2Seq(VS, VS, embed_dim=8, hidden_size=16, pad_id=pad_id)
    for emb in (m.src_embed, m.tgt_embed):
        assert torch.all(emb.weight[pad_id] == 0)
    src = torch.tensor([[5, 6, pad_id]])  # (B, T)
    tgt_in = torch.tensor([[SOS_ID, 5, pad_id]])
    m.loss(m(src, torch.tensor([3]), tgt_in), torch.tensor([[5, 6, EOS_ID]])).backward()
    for emb in (m.src_embed, m.tgt_embed):
        assert torch.all(emb.weight.grad[pad_id] == 0) and emb.weight.grad.abs().sum() > 0


def test_forget_gate_bias_starts_at_one_in_encoder_and_decoder():
    m = Seq2Seq(VS, VS, embed_dim=8, hidden_size=16, num_layers=2)
    for lstm in (m.encoder, m.decoder):
        for layer in range(2):
            b = getattr(lstm, f"bias_ih_l{layer}") + getattr(lstm, f"bias_hh_l{layer}")  # (4H,), gates i, f, g, o
            torch.testing.assert_close(b[16:32], torch.ones(16))


def test_attention_layers_exist_only_where_the_score_needs_them():
    # W_a belongs to the "general" score, W_c to any attention; the plain model has neither
    # (unused parameters would inflate its parameter count and checkpoints).
    names = {att: {n.split(".")[0] for n, _ in model(att).named_parameters()} for att in ("general", "dot", None)}
    assert {"W_a", "W_c"} <= names["general"]
    assert "W_c" in names["dot"] and "W_a" not in names["dot"]
    assert names[None] == {"src_embed", "tgt_embed", "encoder", "decoder", "out"}


@pytest.mark.parametrize("lengths", [[0], [3], [2, 2]])
def test_bad_src_lengths_get_the_length_error(lengths):
    # each bad case alone (a zero, a length past S, one length too many) must trip the check,
    # not an error from deep inside packing
    src, _, tgt_in, _ = make_batch([("ab", "ba")], VOCAB, VOCAB)  # S = 2
    msg = f"expected src_lengths (B,) = (1,) with 1 <= length <= S = 2, got {lengths}"
    with pytest.raises(ValueError, match=f"^{re.escape(msg)}$"):
        model()(src, torch.tensor(lengths), tgt_in)


def test_tgt_in_with_the_wrong_batch_size_is_refused():
    m = model()
    src, lengths, tgt_in, _ = make_batch([("abc", "cba")], VOCAB, VOCAB)  # src (1, 3): B = 1 differs from S = 3
    two = tgt_in.repeat(2, 1)  # (2, T): two-dimensional, but two rows for one source
    with pytest.raises(ValueError, match=re.escape("expected tgt_in of shape (B, T) = (1, T), got (2, 4)")):
        m(src, lengths, two)


def test_encoder_output_covers_trailing_padding_columns():
    # A caller may pad past the longest source; enc_out and mask must still have S columns
    # and the extra column must change nothing.
    m = model()
    src, lengths, tgt_in, _ = make_batch([("abc", "cba"), ("d", "d")], VOCAB, VOCAB)
    wide = torch.cat([src, torch.full((2, 1), PAD_ID)], dim=1)  # (B, S + 1)
    enc_out, mask, _ = m.encode(wide, lengths)
    assert enc_out.shape == (2, 4, 16) and mask.tolist() == [[True] * 3 + [False], [True] + [False] * 3]
    torch.testing.assert_close(m(wide, lengths, tgt_in), m(src, lengths, tgt_in))


def test_max_len_must_be_a_positive_int_and_one_is_allowed():
    m = constant_model("a")
    src, lengths, _, _ = make_batch([("ab", ""), ("c", "")], VOCAB, VOCAB)
    a = VOCAB.stoi["a"] + NUM_SPECIAL
    assert m.greedy_decode(src, lengths, 1) == [[a], [a]]
    assert m.beam_decode(src, lengths, 1, beam_size=2) == [[a], [a]]
    for bad in (0, True, 2.0):
        with pytest.raises(ValueError, match=f"^expected max_len to be an int >= 1, got {bad!r}$"):
            m.greedy_decode(src, lengths, bad)


def test_make_batch_error_messages_are_exact():
    with pytest.raises(ValueError, match=r"^expected at least one \(source, target\) pair, got none$"):
        make_batch([], VOCAB, VOCAB)
    with pytest.raises(ValueError, match="^expected non-empty source strings, got ''$"):
        make_batch([("ab", "ba"), ("", "c")], VOCAB, VOCAB)


def test_make_batch_puts_tensors_on_the_device_but_lengths_on_the_cpu():
    # "meta" stands in for an accelerator on a CPU-only machine: a tensor that stayed behind shows as "cpu"
    src, lengths, tgt_in, tgt_out = make_batch([("ab", "ba"), ("c", "")], VOCAB, VOCAB, device="meta")
    assert [t.device.type for t in (src, tgt_in, tgt_out)] == ["meta"] * 3
    assert lengths.device.type == "cpu"  # pack_padded_sequence wants host lengths
    assert [t.dtype for t in (src, lengths, tgt_in, tgt_out)] == [torch.int64] * 4  # nn.Embedding needs long ids


def test_decode_texts_writes_what_a_constant_model_says():
    assert decode_texts(constant_model("a"), ["ab", "c"], VOCAB, VOCAB, max_len=3) == ["aaa", "aaa"]
    assert decode_texts(constant_model(None), ["ab", "c"], VOCAB, VOCAB, max_len=3, beam_size=2) == ["", ""]


def test_decode_texts_picks_greedy_or_beam_by_beam_size():
    m = model()
    calls = spy_decoders(m)
    decode_texts(m, ["ab"], VOCAB, VOCAB, max_len=4)  # default: greedy
    decode_texts(m, ["ab"], VOCAB, VOCAB, max_len=4, beam_size=1)
    decode_texts(m, ["ab"], VOCAB, VOCAB, max_len=4, beam_size=2)
    decode_texts(m, ["ab"], VOCAB, VOCAB, max_len=4, beam_size=3)
    assert calls == [("greedy", 1, 4, 1), ("greedy", 1, 4, 1), ("beam", 1, 4, 2), ("beam", 1, 4, 3)]


def test_decode_texts_in_batches_gives_one_output_per_source_in_order():
    m = model(seed=2)
    sources = ["abcd", "a", "cc", "dab", "b"]
    alone = [decode_texts(m, [s], VOCAB, VOCAB, max_len=5)[0] for s in sources]
    calls = spy_decoders(m)
    assert decode_texts(m, sources, VOCAB, VOCAB, max_len=5, batch_size=2) == alone
    assert [c[1] for c in calls] == [2, 2, 1]


def test_exact_match_is_the_fraction_of_exact_outputs():
    m = constant_model(None)  # always writes ""
    assert exact_match(m, [("ab", ""), ("cd", "a"), ("a", "")], VOCAB, VOCAB) == pytest.approx(2 / 3)
    # a model that never stops is cut at max_len: "aa" matches only where the target is "aa"
    pairs = [("ab", "aa"), ("c", "a"), ("d", "aaa"), ("bb", "aa")]
    assert exact_match(constant_model("a"), pairs, VOCAB, VOCAB, max_len=2) == pytest.approx(2 / 4)
    with pytest.raises(ValueError, match="^expected at least one pair, got none$"):
        exact_match(m, [], VOCAB, VOCAB)


def test_exact_match_decodes_greedily_up_to_longest_target_plus_two_by_default():
    m = model()
    calls = spy_decoders(m)
    exact_match(m, [("ab", "ba"), ("abcd", "dcba"), ("c", "")], VOCAB, VOCAB)
    exact_match(m, [("ab", "ba")], VOCAB, VOCAB, beam_size=3, max_len=7)
    assert calls == [("greedy", 3, 4 + 2, 1), ("beam", 1, 7, 3)]


def test_attention_matrix_empty_source_message_is_exact():
    with pytest.raises(ValueError, match="^expected a non-empty source string, got ''$"):
        attention_matrix(model(), "", "ab", VOCAB, VOCAB)


# --- train_seq2seq ----------------------------------------------------------------------------

class StopTraining(Exception):
    pass


def record_steps(monkeypatch, stop_after=None):
    """Make train_seq2seq's Adam record (learning rate, global gradient norm it was handed) at every
    step; with `stop_after`, training is stopped by StopTraining after that many steps."""
    log = []

    class RecordingAdam(torch.optim.Adam):
        def step(self, closure=None):
            grads = [p.grad for group in self.param_groups for p in group["params"] if p.grad is not None]
            norm = torch.linalg.vector_norm(torch.cat([g.flatten() for g in grads])).item()  # after clipping
            log.append((self.param_groups[0]["lr"], norm))
            if stop_after is not None and len(log) >= stop_after:
                raise StopTraining
            return super().step(closure)

    monkeypatch.setattr(torch.optim, "Adam", RecordingAdam)
    return log


def test_train_rejects_bad_arguments_with_exact_messages():
    m, pairs = model(), [("ab", "ba")]
    for steps, batch_size in ((0, 64), (1, 0)):
        msg = f"^expected steps >= 1 and batch_size >= 1, got {steps} and {batch_size}$"
        with pytest.raises(ValueError, match=msg):
            train_seq2seq(m, pairs, VOCAB, VOCAB, steps=steps, batch_size=batch_size, progress=False)
    with pytest.raises(ValueError, match=r"^expected at least one \(source, target\) pair to train on, got none$"):
        train_seq2seq(m, [], VOCAB, VOCAB, steps=1, progress=False)


def test_train_memorises_a_single_pair_with_batch_size_one():
    # one pair: every batch must be pair 0 (batch_size=1 is the smallest allowed)
    m = model().train()
    losses = train_seq2seq(m, [("abc", "cba")], VOCAB, VOCAB, steps=60, batch_size=1, lr=1e-2, progress=False)
    assert len(losses) == 60 and losses[-1] < losses[0] / 4, (losses[0], losses[-1])
    assert not m.training  # left in eval mode
    assert decode_texts(m, ["abc"], VOCAB, VOCAB, max_len=5) == ["cba"]


def test_train_learning_rate_decays_as_a_cosine_from_lr_to_zero(monkeypatch):
    log = record_steps(monkeypatch)
    train_seq2seq(model(), [("ab", "ba")], VOCAB, VOCAB, steps=4, lr=0.01, progress=False)
    # step i (0-based) uses lr * (1 + cos(pi i / steps)) / 2: 1, 0.854, 0.5, 0.146 times lr
    expected = [0.01 * 0.5 * (1 + math.cos(math.pi * i / 4)) for i in range(4)]
    assert [lr for lr, _ in log] == pytest.approx(expected, rel=1e-12)


def test_train_clips_the_global_gradient_norm(monkeypatch):
    pair = ("abcd", "dcba")
    big = model()
    with torch.no_grad():
        big.out.weight.mul_(100.0)  # confident wrong logits: a gradient norm far above the clip values below
    src, lengths, tgt_in, tgt_out = make_batch([pair], VOCAB, VOCAB)
    big.loss(big(src, lengths, tgt_in), tgt_out).backward()
    raw = torch.linalg.vector_norm(torch.cat([p.grad.flatten() for p in big.parameters()])).item()
    big.zero_grad(set_to_none=True)
    assert raw > 10
    log = record_steps(monkeypatch, stop_after=1)
    # every batch holds copies of the one pair, so its gradient is the one measured above
    for clip, norm in ((None, 1.0), (0.5, 0.5), (2 * raw, raw)):  # None: the default clip, 1.0
        with pytest.raises(StopTraining):
            train_seq2seq(copy.deepcopy(big), [pair], VOCAB, VOCAB, progress=False,
                          **({} if clip is None else {"clip": clip}))
        assert log.pop()[1] == pytest.approx(norm, rel=1e-4)


def test_train_defaults_batch_64_lr_3e3_over_1000_steps(monkeypatch):
    m = model()
    batch_sizes = []
    forward = m.forward

    def forward_spy(src, src_lengths, tgt_in):
        batch_sizes.append(src.shape[0])
        return forward(src, src_lengths, tgt_in)

    m.forward = forward_spy
    log = record_steps(monkeypatch, stop_after=2)  # two steps tell the schedule's length without running 1000
    with pytest.raises(StopTraining):
        train_seq2seq(m, reverse_pairs(100, 0), VOCAB, VOCAB, progress=False)
    assert batch_sizes == [64, 64]
    # the second step's rate pins the length of the cosine: 1000 steps (1001 would differ by ~5e-9 relative)
    assert [lr for lr, _ in log] == pytest.approx([3e-3, 3e-3 * 0.5 * (1 + math.cos(math.pi / 1000))], rel=1e-12)


def test_train_batches_come_from_a_private_generator_seeded_by_seed():
    pairs = reverse_pairs(50, 0)

    def losses(global_seed, **kw):
        m = model()
        torch.manual_seed(global_seed)  # training must not depend on (or draw from) the global generator
        return train_seq2seq(m, pairs, VOCAB, VOCAB, steps=3, batch_size=4, progress=False, **kw)

    ref = losses(1, seed=0)
    assert losses(2, seed=0) == ref
    assert losses(3) == ref  # the default seed is 0
    assert losses(1, seed=1) != ref


def test_train_stops_at_max_seconds_and_leaves_eval_mode():
    m = model().train()
    assert len(train_seq2seq(m, [("ab", "ba")], VOCAB, VOCAB, steps=5, max_seconds=0, progress=False)) == 1
    assert not m.training
    assert len(train_seq2seq(m, [("ab", "ba")], VOCAB, VOCAB, steps=3, max_seconds=600, progress=False)) == 3


def test_train_shows_a_progress_bar_named_seq2seq_by_default(capsys):
    train_seq2seq(model(), [("ab", "ba")], VOCAB, VOCAB, steps=2)
    assert re.search(r"(^|\r)seq2seq: 100%", capsys.readouterr().err)
    train_seq2seq(model(), [("ab", "ba")], VOCAB, VOCAB, steps=2, progress=False)
    assert capsys.readouterr().err == ""
