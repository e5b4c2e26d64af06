"""Sampling: temperature/top-k/top-p semantics, generation cost, beam search.

Statistical tests draw N = 20,000 samples from a seeded generator and allow +-0.02 around the
exact probability. The standard error is at most sqrt(0.25 / 20000) = 0.0035, so 0.02 is more
than 5.6 standard errors: the chance that a correct sampler fails for a fresh seed is below 1e-7
per frequency checked (and with the fixed seed the result is reproducible).
"""
import math

import pytest
import torch
from torch import nn

from lstm_course.models import CharLM, CharLMConfig
from lstm_course.sampling import (beam_search, filter_logits, generate, generate_text, model_loss_on,
                                  sample_next)

N, TOL = 20_000, 0.02


def freqs(logits, **kw):
    g = torch.Generator().manual_seed(1234)
    draws = sample_next(logits.expand(N, -1), generator=g, **kw)
    return torch.bincount(draws, minlength=logits.shape[-1]).double() / N


# --- sample_next ---------------------------------------------------------------------------------------

def test_temperature_zero_is_argmax():
    logits = torch.tensor([[0.1, 2.0, -1.0], [5.0, 4.9, 0.0]])
    assert sample_next(logits, temperature=0).tolist() == [1, 0]
    one = sample_next(logits[0], temperature=0)
    assert one.dim() == 0 and one.dtype == torch.long and one.item() == 1


def test_temperature_one_matches_softmax_and_temperature_sharpens():
    p = torch.tensor([0.5, 0.3, 0.2])
    f = freqs(p.log())
    assert torch.allclose(f, p.double(), atol=TOL)
    f_half = freqs(p.log(), temperature=0.5)  # T = 0.5 -> p^2 renormalised
    p2 = (p ** 2 / (p ** 2).sum()).double()
    assert torch.allclose(f_half, p2, atol=TOL)


def test_top_k_keeps_ties_at_kth_value():
    logits = torch.tensor([3.0, 2.0, 2.0, 1.0, 0.5])
    kept = filter_logits(logits, top_k=2)
    assert torch.isfinite(kept).tolist() == [True, True, True, False, False]
    f = freqs(logits, top_k=2)
    assert f[3] == 0 and f[4] == 0 and (f[:3] > 0).all()
    e = torch.tensor([3.0, 2.0, 2.0]).softmax(0).double()
    assert torch.allclose(f[:3], e, atol=TOL)
    assert torch.equal(filter_logits(logits, top_k=99), logits)  # k >= V keeps everything


def test_top_p_includes_crossing_token():
    p = torch.tensor([0.5, 0.3, 0.15, 0.05])
    assert torch.isfinite(filter_logits(p.log(), top_p=0.45)).tolist() == [True, False, False, False]
    assert torch.isfinite(filter_logits(p.log(), top_p=0.55)).tolist() == [True, True, False, False]
    assert torch.isfinite(filter_logits(p.log(), top_p=0.9)).tolist() == [True, True, True, False]
    f = freqs(p.log(), top_p=0.55)
    assert f[2] == 0 and f[3] == 0
    assert abs(f[0] - 0.5 / 0.8) < TOL
    # rows are filtered independently
    rows = torch.stack([p.log(), p.flip(0).log()])
    assert torch.isfinite(filter_logits(rows, top_p=0.55)).tolist() == [[True, True, False, False],
                                                                        [False, False, True, True]]


def test_temperature_is_applied_before_the_top_p_nucleus():
    # The nucleus is taken from the distribution actually sampled, i.e. after the temperature.
    # p = [0.5, 0.3, 0.15, 0.05] at T = 2 becomes sqrt(p) normalised = [0.379, 0.294, 0.207, 0.120];
    # cumulative mass before each token: 0, 0.379, 0.673, 0.880, so top_p = 0.7 keeps three tokens
    # (on the untempered p it would keep two: 0, 0.5, 0.8). Sampled frequencies are the three renormalised.
    p = torch.tensor([0.5, 0.3, 0.15, 0.05], dtype=torch.float64)
    tempered = p.sqrt() / p.sqrt().sum()
    expected = torch.cat([tempered[:3] / tempered[:3].sum(), torch.zeros(1, dtype=torch.float64)])
    f = freqs(p.log().float(), temperature=2.0, top_p=0.7)
    assert f[3] == 0 and f[2] > 0.2
    assert torch.allclose(f, expected, atol=TOL)
    # and at T = 0.5 (p^2 normalised = [0.685, 0.247, 0.062, 0.007]) top_p = 0.9 keeps two, not three
    sharp = p ** 2 / (p ** 2).sum()
    f = freqs(p.log().float(), temperature=0.5, top_p=0.9)
    assert f[2] == 0 and f[3] == 0
    assert torch.allclose(f[:2], sharp[:2] / sharp[:2].sum(), atol=TOL)


def test_plus_inf_logits_are_a_clear_error():
    with pytest.raises(ValueError, match=r"expected finite logits \(or -inf for forbidden tokens\), got \+inf"):
        sample_next(torch.tensor([0.0, float("inf"), 1.0]))
    with pytest.raises(ValueError, match="got [+]inf"):
        sample_next(torch.tensor([[0.0, 1.0], [float("inf"), 0.0]]), temperature=0)


def test_minus_inf_never_chosen():
    logits = torch.tensor([float("-inf"), 0.0, float("-inf"), 0.0])
    for kw in (dict(temperature=100.0), dict(top_k=3), dict(top_p=1.0), dict(temperature=0)):
        f = freqs(logits, **kw)
        assert f[0] == 0 and f[2] == 0
    with pytest.raises(ValueError, match="finite logit"):
        sample_next(torch.full((3,), float("-inf")))


def test_seeded_generator_reproduces():
    logits = torch.randn(7)
    a = sample_next(logits.expand(50, -1), generator=torch.Generator().manual_seed(7))
    b = sample_next(logits.expand(50, -1), generator=torch.Generator().manual_seed(7))
    c = sample_next(logits.expand(50, -1), generator=torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)


@pytest.mark.parametrize("kw, match", [
    (dict(temperature=-1.0), "temperature >= 0"), (dict(temperature=float("nan")), "temperature"),
    (dict(top_k=0), "top_k"), (dict(top_k=1.5), "top_k"), (dict(top_p=0.0), "top_p"), (dict(top_p=1.5), "top_p"),
])
def test_sample_next_bad_args(kw, match):
    with pytest.raises(ValueError, match=f"expected .*{match}.*got"):
        sample_next(torch.zeros(3), **kw)


def test_sample_next_bad_logits():
    with pytest.raises(ValueError, match=r"expected floating-point logits of shape \(V,\) or \(B, V\)"):
        sample_next(torch.zeros(2, 3, 4))
    with pytest.raises(ValueError, match="floating-point"):
        sample_next(torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="NaN"):
        sample_next(torch.tensor([0.0, float("nan")]))


# --- generate --------------------------------------------------------------------------------------------

class Counting(nn.Module):
    """Wraps a model and counts the calls and the tokens fed through it."""

    def __init__(self, model):
        super().__init__()
        self.model, self.calls, self.tokens = model, 0, 0
        self.onednn: list[bool] = []  # whether oneDNN was switched on for each call

    def forward(self, x, state=None):
        self.calls += 1
        self.tokens += x.numel()
        self.onednn.append(torch.backends.mkldnn.enabled)
        return self.model(x, state)


@pytest.fixture
def lm():
    torch.manual_seed(0)
    return CharLM(CharLMConfig(vocab_size=9, embed_dim=8, hidden_size=16, num_layers=2, dropout=0.5))


def test_generate_feeds_each_token_once(lm):
    wrapped = Counting(lm)
    prompt, length = [1, 2, 3, 4], 25
    out = generate(wrapped, prompt, length, generator=torch.Generator().manual_seed(0))
    assert out.shape == (length,) and out.dtype == torch.long and out.max() < 9
    assert wrapped.tokens <= len(prompt) + length
    assert wrapped.calls == length  # the prompt in one call, then one call per new token but the last


@pytest.mark.parametrize("decode", [
    lambda m: generate(m, [1, 2, 3], 6, generator=torch.Generator().manual_seed(0)),
    lambda m: beam_search(m, [1, 2, 3], 6, beam_size=3),
], ids=["generate", "beam_search"])
def test_one_token_steps_run_without_onednn_on_a_cpu_and_the_flag_comes_back(lm, decode):
    # the prompt is one whole sequence (oneDNN's kernel is the faster there); each later call feeds one
    # token per hypothesis, where ATen's CPU kernel is about 3x faster (benchmarks/README.md, "Generation")
    wrapped = Counting(lm)
    decode(wrapped)
    assert wrapped.onednn == [True] + [False] * (wrapped.calls - 1) and wrapped.calls == 6
    assert torch.backends.mkldnn.enabled


def test_generate_greedy_equals_full_recomputation(lm):
    # Carrying the state must give the same tokens as re-running the whole text at every step.
    lm.eval()
    seq = [3, 1, 4]
    out = generate(lm, seq, 12, temperature=0)
    for tok in out.tolist():
        logits, _ = lm(torch.tensor([seq]))
        assert tok == int(logits[0, -1].argmax())
        seq.append(tok)


def test_generate_restores_mode_and_is_reproducible(lm):
    lm.train()
    a = generate(lm, torch.tensor([1, 2]), 30, top_k=5, generator=torch.Generator().manual_seed(3))
    b = generate(lm, torch.tensor([1, 2]), 30, top_k=5, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and lm.training
    assert generate(lm, [1], 0).shape == (0,)


def test_generate_bad_args(lm):
    with pytest.raises(ValueError, match="expected a non-empty 1-D prompt"):
        generate(lm, [], 5)
    with pytest.raises(ValueError, match="expected length to be an int >= 0, got -1"):
        generate(lm, [1], -1)
    with pytest.raises(ValueError, match="top_p"):
        generate(lm, [1], 5, top_p=2.0)


class TinyVocab:
    def __init__(self, chars):
        self.itos, self.stoi = list(chars), {c: i for i, c in enumerate(chars)}

    def encode(self, s):
        return torch.tensor([self.stoi[c] for c in s])

    def decode(self, ids):
        return "".join(self.itos[int(i)] for i in ids)


def test_generate_text_returns_new_text_only(lm):
    vocab = TinyVocab("abcdefghi")
    text = generate_text(lm, vocab, "abc", 10, temperature=0)
    assert len(text) == 10 and set(text) <= set("abcdefghi")
    assert text == vocab.decode(generate(lm, vocab.encode("abc"), 10, temperature=0))
    with pytest.raises(ValueError, match="non-empty prompt"):
        generate_text(lm, vocab, "", 5)


# --- beam search -------------------------------------------------------------------------------------------

class TableLM(nn.Module):
    """A first-order Markov 'language model': next-token probabilities depend on the last token only."""

    def __init__(self, probs):
        super().__init__()
        self.logp = nn.Parameter(torch.as_tensor(probs, dtype=torch.float32).log())  # (V, V)

    def forward(self, x, state=None):
        B = x.shape[0]
        state = torch.zeros(1, B, 1), torch.zeros(1, B, 1)  # dummy nn.LSTM-shaped state
        return self.logp[x], state  # (B, T, V)


def test_beam_finds_higher_scoring_sequence_than_greedy():
    # After 0: token 1 (0.6) or 2 (0.4). After 1: anything (0.25 each). After 2: token 3 (0.97).
    # Greedy takes 1 then 0.25 -> 0.15; the best 2-step continuation is 2, 3 -> 0.388.
    probs = torch.full((4, 4), 0.01)
    probs[0] = torch.tensor([0.0, 0.6, 0.4, 0.0])
    probs[1] = 0.25
    probs[2, 3] = 0.97
    probs[3] = 0.25
    model = TableLM(probs.clamp_min(1e-12))
    greedy = generate(model, [0], 2, temperature=0)
    beam = beam_search(model, [0], 2, beam_size=2)
    assert greedy[0].item() == 1 and beam.tolist() == [2, 3]

    def score(seq):
        prev, s = 0, 0.0
        for t in seq.tolist():
            s += math.log(probs[prev, t])
            prev = t
        return s

    assert score(beam) > score(greedy)


def test_beam_one_equals_greedy(lm):
    for prompt in ([1], [4, 2, 7]):
        assert torch.equal(beam_search(lm, prompt, 15, beam_size=1), generate(lm, prompt, 15, temperature=0))
    out = beam_search(lm, [1, 2], 8, beam_size=4)
    assert out.shape == (8,) and out.dtype == torch.long
    with pytest.raises(ValueError, match="beam_size"):
        beam_search(lm, [1], 5, beam_size=0)


def test_beam_score_never_below_greedy(lm):
    lm.eval()
    for seed in range(3):
        prompt = torch.randint(0, 9, (3,), generator=torch.Generator().manual_seed(seed))
        seqs = [generate(lm, prompt, 6, temperature=0), beam_search(lm, prompt, 6, beam_size=5)]
        scores = []
        for s in seqs:
            full = torch.cat([prompt, s])
            logits, _ = lm(full[None, :-1])
            scores.append(logits[0].log_softmax(-1)[torch.arange(2, 8), full[3:]].sum().item())
        assert scores[1] >= scores[0] - 1e-5


def test_model_loss_on(lm):
    lm.eval()
    ids = torch.randint(0, 9, (50,))
    logits, _ = lm(ids[None, :-1])
    expected = nn.functional.cross_entropy(logits[0], ids[1:]).item()
    assert model_loss_on(lm, ids) == pytest.approx(expected, rel=1e-5)
    assert model_loss_on(lm, ids, chunk=7) == pytest.approx(expected, rel=1e-5)  # state carried across chunks
    with pytest.raises(ValueError, match="at least 2 token ids"):
        model_loss_on(lm, [1])


# A model whose state matters: a CharLM with large random weights, so its next-token distributions are
# peaked and depend on everything read so far. On the flat test model above beam search agrees with greedy
# decoding almost always, which hides bugs in how the beams' states follow their hypotheses.

@pytest.fixture
def peaked_lm():
    torch.manual_seed(11)
    model = CharLM(CharLMConfig(vocab_size=6, embed_dim=8, hidden_size=16, num_layers=2)).double().eval()
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(3.0)
    return model


def reference_beam(model, prompt, length, beam_size):
    """Beam search without any carried state: every hypothesis is re-read from the start at every step."""
    beams = [([], 0.0)]
    for _ in range(length):
        cands = []
        for seq, score in beams:
            logits, _ = model(torch.tensor([list(prompt) + seq]))
            logp = logits[0, -1].float().log_softmax(-1)
            cands += [(seq + [v], score + logp[v].item()) for v in range(logp.numel())]
        beams = sorted(cands, key=lambda c: -c[1])[:beam_size]
    return beams[0][0]


def full_logprob(model, prompt, seq):
    full = torch.tensor(list(prompt) + list(seq))
    logits, _ = model(full[None, :-1])
    logp = logits[0].log_softmax(-1)
    return sum(logp[t, full[t + 1]].item() for t in range(len(prompt) - 1, len(full) - 1))


@pytest.mark.parametrize("beam_size", [2, 3, 5])
def test_beam_search_equals_a_stateless_reference_on_a_model_whose_state_matters(peaked_lm, beam_size):
    differs_from_greedy = 0
    for seed in range(4):
        prompt = torch.randint(0, 6, (3,), generator=torch.Generator().manual_seed(seed)).tolist()
        beam = beam_search(peaked_lm, prompt, 7, beam_size=beam_size).tolist()
        assert beam == reference_beam(peaked_lm, prompt, 7, beam_size), (seed, beam_size)
        greedy = generate(peaked_lm, prompt, 7, temperature=0).tolist()
        differs_from_greedy += beam != greedy
        assert full_logprob(peaked_lm, prompt, beam) >= full_logprob(peaked_lm, prompt, greedy) - 1e-6
    assert differs_from_greedy >= 1  # the test model really separates beam search from greedy decoding


def test_exhaustive_beam_finds_the_best_sequence(peaked_lm):
    # With beam_size >= V ** (length - 1) nothing is pruned: beam search must return the argmax over all
    # V ** length continuations, each scored by reading it from scratch.
    import itertools

    prompt, length = [2, 0], 3
    best = max(itertools.product(range(6), repeat=length), key=lambda s: full_logprob(peaked_lm, prompt, s))
    assert beam_search(peaked_lm, prompt, length, beam_size=36).tolist() == list(best)
    greedy = generate(peaked_lm, prompt, length, temperature=0).tolist()
    assert full_logprob(peaked_lm, prompt, best) > full_logprob(peaked_lm, prompt, greedy) + 1e-3


def test_prompt_ids_outside_the_vocabulary_are_a_clear_error(lm):
    for decode in (lambda p: generate(lm, p, 3), lambda p: beam_search(lm, p, 3), lambda p: model_loss_on(lm, p)):
        with pytest.raises(ValueError, match=r"expected prompt ids in \[0, 9\) .*got 9 at position 1"):
            decode([1, 9, 2])
        with pytest.raises(ValueError, match=r"expected prompt ids in \[0, 9\) .*got -1 at position 0"):
            decode([-1, 2])


class GRULM(nn.Module):
    """A language model whose state is one tensor (num_layers, B, H), not nn.LSTM's (h, c) pair."""

    def __init__(self, V=5, H=12):
        super().__init__()
        self.embed, self.rnn, self.head = nn.Embedding(V, 8), nn.GRU(8, H, batch_first=True), nn.Linear(H, V)

    def forward(self, x, state=None):
        out, state = self.rnn(self.embed(x), state)  # (B, T, H), (1, B, H)
        return self.head(out), state


def test_beam_search_reorders_a_single_tensor_state_too():
    torch.manual_seed(0)
    model = GRULM().double().eval()
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(2.0)
    differs = 0
    for seed in range(4):
        prompt = torch.randint(0, 5, (2,), generator=torch.Generator().manual_seed(seed)).tolist()
        beam = beam_search(model, prompt, 6, beam_size=3).tolist()
        assert beam == reference_beam(model, prompt, 6, 3)
        differs += beam != generate(model, prompt, 6, temperature=0).tolist()
    assert differs >= 1


@pytest.mark.parametrize("kw, message", [
    (dict(temperature=True), "expected a finite temperature >= 0, got True"),
    (dict(temperature="1"), "expected a finite temperature >= 0, got '1'"),
    (dict(temperature=float("inf")), "expected a finite temperature >= 0, got inf"),
    (dict(top_k=True), "expected top_k to be None or an int >= 1, got True"),
    (dict(top_k=0), "expected top_k to be None or an int >= 1, got 0"),
    (dict(top_p=True), "expected top_p to be None or in (0, 1], got True"),
    (dict(top_p="0.5"), "expected top_p to be None or in (0, 1], got '0.5'"),
    (dict(top_p=0.0), "expected top_p to be None or in (0, 1], got 0.0"),
])
def test_sampling_arguments_are_checked_with_exact_messages(kw, message):
    with pytest.raises(ValueError) as err:
        sample_next(torch.zeros(3), **kw)
    assert str(err.value) == message
    assert sample_next(torch.tensor([0.0, 5.0]), temperature=1, top_k=1, top_p=1).item() == 1  # ints are fine


def test_sample_next_error_messages_name_what_was_given():
    cases = [(torch.zeros(2, 3, 4), "expected floating-point logits of shape (V,) or (B, V), got (2, 3, 4) torch.float32"),
             (torch.zeros(3, dtype=torch.long), "expected floating-point logits of shape (V,) or (B, V), got (3,) torch.int64"),
             ([0.0, 1.0], "expected floating-point logits of shape (V,) or (B, V), got list"),
             (torch.zeros(0), "expected at least one logit, got V = 0"),
             (torch.tensor([[0.0, 1.0], [float("-inf")] * 2]), "expected at least one finite logit per row, got all -inf")]
    for logits, message in cases:
        with pytest.raises(ValueError) as err:
            sample_next(logits)
        assert str(err.value) == message


def test_top_k_and_top_p_filter_each_row_and_keep_what_they_promise():
    logits = torch.tensor([[1.0, 3.0, 2.0, 0.0], [0.0, 0.0, 5.0, 4.0]])
    kept = torch.isfinite(filter_logits(logits, top_k=2))
    assert kept.tolist() == [[False, True, True, False], [False, False, True, True]]
    assert torch.equal(filter_logits(logits, top_k=4), logits) and torch.equal(filter_logits(logits, top_p=1.0), logits)
    kept = filter_logits(logits, top_k=3, top_p=0.5)  # both: the nucleus of what top-k left
    assert torch.isfinite(kept).sum(-1).tolist() == [1, 1]
    f = freqs(torch.tensor([2.0, 1.0, 0.0]), top_k=2, temperature=0.5)  # top-k after the temperature, then softmax
    p = torch.tensor([4.0, 2.0]).softmax(0).double()
    assert f[2] == 0 and torch.allclose(f[:2], p, atol=TOL)


def test_generate_with_length_zero_and_one(lm):
    wrapped = Counting(lm)
    out = generate(wrapped, [1, 2], 0)
    assert out.shape == (0,) and out.dtype == torch.long and wrapped.calls == 0  # nothing to compute
    out = beam_search(wrapped, [1, 2], 0)
    assert out.shape == (0,) and out.dtype == torch.long and wrapped.calls == 0
    one = generate(wrapped, [1, 2], 1, temperature=0)
    assert one.shape == (1,) and wrapped.calls == 1
    assert beam_search(lm, [1, 2], 1, beam_size=3).tolist() == one.tolist()  # one step: beam = argmax


def test_generate_text_rejects_a_prompt_that_is_not_text(lm):
    vocab = TinyVocab("abcdefghi")
    for bad in ("", None, ["a"]):
        with pytest.raises(ValueError) as err:
            generate_text(lm, vocab, bad, 3)
        assert str(err.value) == f"expected a non-empty prompt string, got {bad!r}"


def test_prompt_shape_and_dtype_errors(lm):
    for decode in (lambda p: generate(lm, p, 2), lambda p: beam_search(lm, p, 2)):
        with pytest.raises(ValueError) as err:
            decode(torch.zeros(2, 2, dtype=torch.long))
        assert str(err.value) == "expected a non-empty 1-D prompt of token ids (P,), got shape (2, 2)"
        with pytest.raises(ValueError) as err:
            decode(torch.tensor([1.0, 2.0]))
        assert str(err.value) == "expected integer token ids in the prompt, got dtype torch.float32"
    with pytest.raises(ValueError) as err:
        beam_search(lm, [1], -1)
    assert str(err.value) == "expected length to be an int >= 0, got -1"
    for bad in (0, True, 1.5):
        with pytest.raises(ValueError) as err:
            beam_search(lm, [1], 3, beam_size=bad)
        assert str(err.value) == f"expected beam_size to be an int >= 1, got {bad!r}"


def test_model_loss_on_restores_the_mode_and_rejects_short_input(lm):
    lm.train()
    ids = torch.randint(0, 9, (30,), generator=torch.Generator().manual_seed(0))
    a = model_loss_on(lm, ids, chunk=4)
    assert lm.training and a == pytest.approx(model_loss_on(lm, ids.tolist()), rel=1e-5)  # dropout was off
    with pytest.raises(ValueError) as err:
        model_loss_on(lm, torch.zeros(2, 3, dtype=torch.long))
    assert str(err.value) == "expected a 1-D sequence of at least 2 token ids, got shape (2, 3)"


def test_top_p_one_keeps_even_tokens_whose_mass_rounds_away():
    # in float32 the cumulative mass reaches exactly 1.0 before the last, tiny-probability tokens:
    # top_p = 1.0 still means "no filtering"
    logits = torch.tensor([0.0, 0.0, -80.0, -90.0])
    assert torch.equal(filter_logits(logits, top_p=1.0), logits)
    # and exactly at the threshold the token that would cross it is the last one kept: [0.5, 0.25, 0.25]
    p = torch.tensor([0.5, 0.25, 0.25])
    assert torch.isfinite(filter_logits(p.log(), top_p=0.5)).tolist() == [True, False, False]


def test_float_prompts_and_lengths_are_refused_not_truncated(lm):
    with pytest.raises(ValueError) as err:
        generate(lm, [1.0, 2.7], 3)
    assert str(err.value) == "expected integer token ids in the prompt, got dtype torch.float32"
    with pytest.raises(ValueError) as err:
        generate(lm, [1, 2], 2.0)
    assert str(err.value) == "expected length to be an int >= 0, got 2.0"


def test_prompt_ids_for_a_model_without_an_embedding_must_still_be_non_negative():
    model = TableLM(torch.full((3, 3), 1 / 3))
    with pytest.raises(ValueError) as err:
        generate(model, [0, -1], 2)
    assert str(err.value) == "expected prompt ids >= 0, got -1 at position 1"
    assert generate(model, [0, 2], 2).shape == (2,)


def test_nan_and_plus_inf_messages_are_exact():
    with pytest.raises(ValueError) as err:
        sample_next(torch.tensor([0.0, float("nan")]))
    assert str(err.value) == "expected logits without NaN, got NaN"
    with pytest.raises(ValueError) as err:
        sample_next(torch.tensor([0.0, float("inf")]))
    assert str(err.value) == "expected finite logits (or -inf for forbidden tokens), got +inf"
