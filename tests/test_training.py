"""Behaviour of lstm_course.training: TBPTT state handling, clipping, schedule, stopping, learning."""
import math
import time
import warnings

import pytest
import torch
from torch import nn
from torch.optim.optimizer import register_optimizer_step_pre_hook

from lstm_course.models import CharLM, CharLMConfig
from lstm_course.training import History, TrainConfig, detach_state, evaluate_lm, lr_at, train_lm

torch.set_num_threads(1)


class RecordingLM(nn.Module):
    """A stand-in recurrent LM that records the state it receives and returns at each call.

    Training code must know nothing about LSTMs, so a plain Embedding → nn.LSTM → Linear
    written here is enough; ``delay`` makes each forward slow for the wall-clock test.
    """

    def __init__(self, vocab_size: int = 6, hidden: int = 8, delay: float = 0.0):
        super().__init__()
        self.emb = nn.Embedding(vocab_size, hidden)
        self.rnn = nn.LSTM(hidden, hidden, batch_first=True)
        self.out = nn.Linear(hidden, vocab_size)
        self.delay = delay
        self.calls: list[dict] = []

    def forward(self, x, state=None):
        if self.delay:
            time.sleep(self.delay)
        y, new_state = self.rnn(self.emb(x), state)  # (B, T, H)
        logits = self.out(y)  # (B, T, V)
        if self.training:
            self.calls.append({"state_in": state, "state_out": new_state, "logits_dtype": logits.dtype})
        return logits, new_state


def repetitive_ids(n: int = 2000, period: str = "abcdea") -> torch.Tensor:
    # "abcdea" repeated: after 'a' comes 'b' or 'a' depending on context, so memory helps
    table = {c: i for i, c in enumerate(sorted(set(period)))}
    text = (period * (n // len(period) + 1))[:n]
    return torch.tensor([table[c] for c in text], dtype=torch.long)


# ---------------------------------------------------------------- detach_state

def test_detach_state_keeps_values_and_containers_and_cuts_graph():
    w = torch.randn(3, requires_grad=True)
    h, c = w * 2, w + 1
    assert detach_state(None) is None
    out = detach_state(h)
    assert out.grad_fn is None and not out.requires_grad and torch.equal(out, h)
    nested = detach_state([(h, c), h])
    assert isinstance(nested, list) and isinstance(nested[0], tuple)
    assert torch.equal(nested[0][1], c) and nested[0][1].grad_fn is None and nested[1].grad_fn is None


def test_detach_state_rejects_other_types():
    with pytest.raises(TypeError, match="expected None, a Tensor"):
        detach_state({"h": torch.zeros(1)})


# ---------------------------------------------------------------- TBPTT state

def test_carried_state_equals_previous_output_but_has_no_graph():
    model = RecordingLM()
    ids = repetitive_ids(400)  # B=4 → L=100; bptt 10 → ~10 chunks per epoch, we take 5
    train_lm(model, ids, None, TrainConfig.tiny(bptt=10, max_steps=5), progress=False)
    calls = model.calls
    assert len(calls) == 5
    assert calls[0]["state_in"] is None  # first chunk starts from zeros
    for prev, cur in zip(calls, calls[1:]):
        for passed, returned in zip(cur["state_in"], prev["state_out"]):
            assert torch.equal(passed, returned)  # same values flow on ...
            assert returned.grad_fn is not None  # ... the model's output had a graph ...
            assert passed.grad_fn is None and not passed.requires_grad  # ... the carried copy does not


def test_carry_state_false_starts_every_chunk_from_zeros():
    model = RecordingLM()
    train_lm(model, repetitive_ids(400), None, TrainConfig.tiny(bptt=10, max_steps=4, carry_state=False),
             progress=False)
    assert [c["state_in"] for c in model.calls] == [None] * 4


def test_without_detach_the_second_backward_fails():
    model = RecordingLM()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        train_lm(model, repetitive_ids(400), None, TrainConfig.tiny(bptt=10, max_steps=3, detach=False),
                 progress=False)
    assert len(model.calls) == 2  # chunk 1 trained fine; chunk 2 reached back into chunk 1's freed graph


def test_without_detach_the_course_charlm_fails_the_same_way():
    model = CharLM(CharLMConfig.tiny(vocab_size=6))
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        train_lm(model, repetitive_ids(400), None, TrainConfig.tiny(bptt=10, max_steps=3, detach=False),
                 progress=False)


# ---------------------------------------------------------------- clipping and schedule

@pytest.fixture
def optimizer_steps():
    """Record, just before every optimizer.step(), the global grad norm and the lr actually used."""
    seen: list[dict] = []

    def hook(optimizer, args, kwargs):
        grads = [p.grad for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
        seen.append({"norm": torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])).item(),
                     "lr": optimizer.param_groups[0]["lr"]})

    handle = register_optimizer_step_pre_hook(hook)
    yield seen
    handle.remove()


def test_clipping_bounds_the_norm_and_history_records_the_preclip_norm(optimizer_steps):
    clip = 0.05  # far below this model's raw gradient norm, so clipping really happens
    hist = train_lm(RecordingLM(), repetitive_ids(400), None, TrainConfig.tiny(bptt=10, max_steps=6, clip=clip),
                    progress=False)
    assert len(optimizer_steps) == len(hist.grad_norm) == 6
    for pre, seen in zip(hist.grad_norm, optimizer_steps):
        assert seen["norm"] <= clip * (1 + 1e-4)
        if pre > clip:
            assert seen["norm"] == pytest.approx(clip, rel=1e-4)
        else:
            assert seen["norm"] == pytest.approx(pre, rel=1e-4)
    assert max(hist.grad_norm) > clip  # the recorded norm is the one *before* clipping


def test_no_clip_leaves_gradients_alone_but_records_their_norm(optimizer_steps):
    hist = train_lm(RecordingLM(), repetitive_ids(400), None, TrainConfig.tiny(bptt=10, max_steps=3, clip=None),
                    progress=False)
    assert [s["norm"] for s in optimizer_steps] == pytest.approx(hist.grad_norm, rel=1e-4)


def test_lr_at_warmup_and_cosine_end_points():
    cfg = TrainConfig(lr=1e-2, min_lr=1e-3, warmup_steps=4)
    assert lr_at(0, cfg, 0.0) == pytest.approx(1e-2 / 4)
    assert lr_at(3, cfg, 0.0) == pytest.approx(1e-2)
    assert lr_at(4, cfg, 0.0) == pytest.approx(1e-2)  # cosine starts at the peak
    assert lr_at(10, cfg, 0.5) == pytest.approx((1e-2 + 1e-3) / 2)
    assert lr_at(10, cfg, 1.0) == pytest.approx(1e-3)
    assert lr_at(10, cfg, 7.0) == pytest.approx(1e-3)  # clamped past the end


def test_schedule_applied_to_the_optimizer(optimizer_steps):
    cfg = TrainConfig.tiny(bptt=5, lr=1e-2, min_lr=1e-3, warmup_steps=4, max_steps=20)
    hist = train_lm(RecordingLM(), repetitive_ids(400), None, cfg, progress=False)
    assert [s["lr"] for s in optimizer_steps] == pytest.approx(hist.lr)
    assert hist.lr[:4] == pytest.approx([2.5e-3, 5e-3, 7.5e-3, 1e-2])
    assert hist.lr[4] == pytest.approx(1e-2)
    assert hist.lr[-1] == pytest.approx(1e-3)  # the last step has decayed to min_lr
    assert all(a >= b for a, b in zip(hist.lr[4:], hist.lr[5:]))  # decays monotonically


# ---------------------------------------------------------------- stopping, history, evaluation

def test_stops_at_max_steps_and_history_is_complete():
    ids = repetitive_ids(600)
    hist = train_lm(RecordingLM(), ids[:500], ids[500:], TrainConfig.tiny(bptt=10, max_steps=7, eval_every=3),
                    progress=False)
    assert hist.step == list(range(1, 8))
    assert len(hist.train_loss) == len(hist.grad_norm) == len(hist.lr) == len(hist.seconds) == 7
    assert hist.val_step == [3, 6, 7]  # every eval_every steps and after the last one
    assert hist.best_val == min(hist.val_loss)
    assert all(b >= a for a, b in zip(hist.seconds, hist.seconds[1:]))


def test_runs_past_one_epoch_when_asked():
    ids = repetitive_ids(200)  # B=4, L=50, bptt=10 → 5 chunks per epoch
    hist = train_lm(RecordingLM(), ids, None, TrainConfig.tiny(bptt=10, max_steps=12), progress=False)
    assert len(hist.step) == 12


def test_without_limits_runs_one_epoch():
    ids = repetitive_ids(200)  # L=50 → 49 targets per stream → ceil(49/10) = 5 chunks
    hist = train_lm(RecordingLM(), ids, None, TrainConfig.tiny(bptt=10, max_steps=None), progress=False)
    assert len(hist.step) == 5


def test_max_seconds_stops_on_wall_clock():
    model = RecordingLM(delay=0.05)  # ≥ 0.05 s per step: 1000 steps would take ≥ 50 s
    hist = train_lm(model, repetitive_ids(400), None,
                    TrainConfig.tiny(bptt=10, max_steps=1000, max_seconds=0.3), progress=False)
    assert 1 <= len(hist.step) < 1000
    assert hist.seconds[-1] >= 0.3
    assert hist.seconds[-2] < 0.3 if len(hist.step) > 1 else True  # stopped at the first step past the budget


def test_on_eval_is_called_and_can_stop_training():
    ids = repetitive_ids(600)
    seen = []

    def on_eval(step, val):
        seen.append((step, val))
        return step >= 4

    hist = train_lm(RecordingLM(), ids[:500], ids[500:], TrainConfig.tiny(bptt=10, max_steps=50, eval_every=2),
                    progress=False, on_eval=on_eval)
    assert [s for s, _ in seen] == [2, 4]
    assert hist.step[-1] == 4 and [v for _, v in seen] == hist.val_loss


def test_evaluate_lm_carries_state_through_the_whole_text():
    torch.manual_seed(0)
    model = RecordingLM().double()
    ids = repetitive_ids(101)
    logits, _ = model(ids[None, :-1])  # the whole text as one sequence, one forward
    expected = nn.functional.cross_entropy(logits[0], ids[1:]).item()
    got = evaluate_lm(model, ids, batch_size=1, bptt=7)  # 15 chunks, state carried between them
    assert got == pytest.approx(expected, rel=1e-9)
    model.train()
    evaluate_lm(model, ids, batch_size=1, bptt=7)
    assert model.training  # the caller's mode is restored


def test_evaluate_lm_bad_input():
    model = RecordingLM()
    with pytest.raises(ValueError, match="expected a 1-D LongTensor"):
        evaluate_lm(model, torch.zeros(10))
    with pytest.raises(ValueError, match="expected at least 2"):
        evaluate_lm(model, torch.zeros(1, dtype=torch.long))
    with pytest.raises(ValueError, match="bptt >= 1, got 16 and 0"):  # a sequence length of 0
        evaluate_lm(model, repetitive_ids(50), bptt=0)


@pytest.mark.parametrize("field,value", [("batch_size", 0), ("bptt", 0), ("lr", -1.0), ("clip", 0.0),
                                         ("max_steps", 0), ("max_seconds", 0.0), ("amp_dtype", "float8")])
def test_config_rejects_bad_values(field, value):
    with pytest.raises(ValueError, match=f"expected .*got {value!r}"):
        TrainConfig(**{field: value})


def test_batch_larger_than_data_is_rejected():
    # 10 ids cannot fill 8 streams of at least 2 (input + next-token target) each
    with pytest.raises(ValueError, match="too short for batch_size=8: expected at least 16 tokens .*got 10"):
        train_lm(RecordingLM(), repetitive_ids(10), None, TrainConfig.tiny(batch_size=8), progress=False)


def _cpu_has_bf16_units() -> bool:
    from lstm_course.training import resolve_amp_dtype

    return resolve_amp_dtype("auto", "cpu") == "bfloat16"


@pytest.mark.skipif(not _cpu_has_bf16_units(),
                    reason="this CPU has neither AMX nor AVX-512 BF16, so oneDNN cannot run a bfloat16 nn.LSTM here; "
                           "the refusal on such CPUs is test_bfloat16_on_a_cpu_without_bf16_units_is_refused_before_training")
def test_bfloat16_autocast_is_used_when_asked():
    model = RecordingLM()
    config = TrainConfig.tiny(bptt=10, max_steps=3, amp_dtype="bfloat16")
    hist = train_lm(model, repetitive_ids(400), None, config, progress=False)
    assert {c["logits_dtype"] for c in model.calls} == {torch.bfloat16}
    assert all(math.isfinite(v) for v in hist.train_loss)
    assert next(model.parameters()).dtype == torch.float32  # weights stay float32


def test_progress_bar_shows_and_hides(capsys):
    train_lm(RecordingLM(), repetitive_ids(400), None, TrainConfig.tiny(bptt=10, max_steps=2), progress=False)
    assert capsys.readouterr().err == ""
    train_lm(RecordingLM(), repetitive_ids(400), None, TrainConfig.tiny(bptt=10, max_steps=2), progress=True)
    assert "2/2" in capsys.readouterr().err


def test_training_lowers_the_loss_of_the_course_charlm():
    torch.manual_seed(0)
    ids = repetitive_ids(3000)
    model = CharLM(CharLMConfig.tiny(vocab_size=6))
    before = evaluate_lm(model, ids[2500:], batch_size=2, bptt=50)
    hist = train_lm(model, ids[:2500], ids[2500:], TrainConfig.tiny(max_steps=60, eval_every=30, bptt=20),
                    progress=False)
    after = evaluate_lm(model, ids[2500:], batch_size=2, bptt=50)
    assert after < 0.5 * before  # a period-6 pattern is easy: at least halve the loss
    assert hist.val_loss[-1] < hist.val_loss[0]
    assert isinstance(hist, History) and hist.best_val == min(hist.val_loss)


def test_ctrl_c_ends_training_early_and_keeps_what_was_measured(capsys):
    class InterruptedLM(RecordingLM):
        def forward(self, x, state=None):
            if len(self.calls) == 3:
                raise KeyboardInterrupt  # the student presses Ctrl-C during the 4th step
            return super().forward(x, state)

    hist = train_lm(InterruptedLM(), repetitive_ids(400), None, TrainConfig.tiny(bptt=10, max_steps=20),
                    progress=False)
    assert hist.step == [1, 2, 3] and len(hist.train_loss) == 3
    captured = capsys.readouterr()
    assert "interrupted after 3 steps" in captured.out + captured.err


def test_bfloat16_on_a_cpu_without_bf16_units_is_refused_before_training(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False, raising=False)
    model = RecordingLM()
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(ValueError, match=r"amp_dtype='bfloat16': expected a CPU with AMX or AVX-512 BF16.*'auto'"):
        train_lm(model, repetitive_ids(400), None, TrainConfig.tiny(bptt=10, max_steps=3, amp_dtype="bfloat16"),
                 progress=False)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))  # no step was taken
    with pytest.raises(ValueError, match="expected a CPU with AMX or AVX-512 BF16"):
        evaluate_lm(model, repetitive_ids(100), amp_dtype="bfloat16")
    hist = train_lm(model, repetitive_ids(400), None, TrainConfig.tiny(bptt=10, max_steps=3, amp_dtype="auto"),
                    progress=False)  # "auto" trains in float32 there
    assert {c["logits_dtype"] for c in model.calls} == {torch.float32} and len(hist.step) == 3


def test_amp_auto_picks_bf16_only_where_the_hardware_has_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from lstm_course.training import resolve_amp_dtype

    assert resolve_amp_dtype(None, "cpu") is None and resolve_amp_dtype("bfloat16", "cpu") == "bfloat16"
    for amx, avx512_bf16, expected in [(False, False, None), (True, False, "bfloat16"), (False, True, "bfloat16")]:
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda v=amx: v, raising=False)
        monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda v=avx512_bf16: v, raising=False)
        assert resolve_amp_dtype("auto", torch.device("cpu")) == expected
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert resolve_amp_dtype("auto", "cuda") is None  # e.g. a T4: float32, not an error
    assert resolve_amp_dtype("auto", "mps") is None


def test_amp_auto_trains() -> None:
    torch.manual_seed(0)
    model = CharLM(CharLMConfig.tiny(vocab_size=5))
    hist = train_lm(model, repetitive_ids(400), None, TrainConfig.tiny(bptt=10, max_steps=3, amp_dtype="auto"),
                    progress=False)
    assert len(hist.train_loss) == 3 and all(math.isfinite(v) for v in hist.train_loss)


def test_every_epoch_starts_from_a_zero_state():
    # An epoch is one pass over the B streams; the state at the end of a stream has read its last
    # characters, which do not precede the first characters of the next pass. Each epoch restarts at zeros.
    model = RecordingLM()
    ids = repetitive_ids(200)  # B=4, L=50, bptt=10 → 5 chunks in the first epoch
    train_lm(model, ids, None, TrainConfig.tiny(bptt=10, max_steps=12), progress=False)
    starts = [k for k, c in enumerate(model.calls) if c["state_in"] is None]
    assert starts[:2] == [0, 5]  # epoch 1 is chunks 0-4; epoch 2 (random offset) starts at chunk 5 from zeros
    assert len(starts) == 3 and starts[2] in (9, 10)  # 4 or 5 chunks in epoch 2, depending on its offset
    assert all(model.calls[k]["state_in"] is not None for k in range(12) if k not in starts)


# ---------------------------------------------------------------- config contract (messages, boundaries, defaults)

@pytest.mark.parametrize("overrides,message", [
    ({"batch_size": 0}, "expected batch_size >= 1, got 0"),
    ({"batch_size": 2.0}, "expected batch_size >= 1, got 2.0"),  # a float B would break batchify later
    ({"bptt": 0}, "expected bptt >= 1, got 0"),
    ({"bptt": 4.0}, "expected bptt >= 1, got 4.0"),
    ({"lr": 0.0}, "expected lr > 0, got 0.0"),
    ({"lr": -1.0}, "expected lr > 0, got -1.0"),
    ({"min_lr": -1e-4}, "expected 0 <= min_lr <= lr, got -0.0001"),
    ({"lr": 1e-3, "min_lr": 2e-3}, "expected 0 <= min_lr <= lr, got 0.002"),
    ({"weight_decay": -0.1}, "expected weight_decay >= 0, got -0.1"),
    ({"clip": 0.0}, "expected clip > 0 or None, got 0.0"),
    ({"warmup_steps": -1}, "expected warmup_steps >= 0, got -1"),
    ({"max_steps": 0}, "expected max_steps >= 1 or None, got 0"),
    ({"max_seconds": 0.0}, "expected max_seconds > 0 or None, got 0.0"),
    ({"eval_every": 0}, "expected eval_every >= 1, got 0"),
    ({"eval_batches": 0}, "expected eval_batches >= 1 or None, got 0"),
    ({"amp_dtype": "float8"}, "expected amp_dtype in ['bfloat16', 'auto'] or None, got 'float8'"),
])
def test_config_error_message_names_the_rule_and_the_value(overrides, message):
    # the whole message: a student reads which field, which rule and what they passed
    with pytest.raises(ValueError) as err:
        TrainConfig(**overrides)
    assert str(err.value) == f"TrainConfig: {message}"


@pytest.mark.parametrize("overrides", [
    {"batch_size": 1}, {"bptt": 1}, {"lr": 1e-9, "min_lr": 0.0}, {"min_lr": 0.0}, {"lr": 1e-3, "min_lr": 1e-3},
    {"weight_decay": 0.0}, {"clip": None}, {"clip": 1e-6}, {"warmup_steps": 0}, {"max_steps": 1},
    {"max_steps": None}, {"max_seconds": 1e-3}, {"max_seconds": None}, {"eval_every": 1}, {"eval_batches": 1},
    {"eval_batches": None}, {"amp_dtype": None}, {"amp_dtype": "auto"}, {"amp_dtype": "bfloat16"},
])
def test_config_accepts_the_boundary_values(overrides):
    # each limit is inclusive where the docs say >= (and min_lr may equal lr: a constant schedule)
    config = TrainConfig(**overrides)
    assert all(getattr(config, k) == v for k, v in overrides.items())


def test_config_defaults_are_the_documented_ones():
    # the class docstring states every default; the course's CPU runs rely on them
    assert TrainConfig().to_dict() == dict(
        batch_size=32, bptt=32, lr=2e-2, min_lr=0.0, weight_decay=0.1, betas=(0.9, 0.99), clip=1.0,
        warmup_steps=50, max_steps=None, max_seconds=None, eval_every=200, eval_batches=50, seed=0,
        carry_state=True, detach=True, optimizer="adamw", muon_lr_scale=1.0, muon_momentum=0.95, muon_ns_steps=3,
        amp_dtype="auto")


def test_shakespeare_preset_is_the_defaults_plus_muon_and_takes_overrides():
    # benchmarks/charlm.py trains with it: everything but the optimizer stays the documented defaults
    preset = TrainConfig.shakespeare().to_dict()
    assert preset == {**TrainConfig().to_dict(), "optimizer": "muon", "muon_lr_scale": 0.66}
    assert TrainConfig.shakespeare(max_seconds=9.0, seed=2).to_dict() == {**preset, "max_seconds": 9.0, "seed": 2}


def test_tiny_preset_is_a_short_float32_run_that_takes_overrides():
    # the preset promises "a few fast steps": a finite step budget, and float32 (its comment: tiny
    # models gain nothing from bf16). Its other values are not documented, so they are not pinned here.
    tiny = TrainConfig.tiny()
    assert tiny.max_steps is not None and tiny.max_steps < TrainConfig().eval_every
    assert tiny.amp_dtype is None
    assert TrainConfig.tiny(bptt=7, seed=3).to_dict() == {**tiny.to_dict(), "bptt": 7, "seed": 3}


def test_to_dict_are_plain_json_ready_dicts():
    import json

    config = TrainConfig.tiny(seed=5)
    assert json.loads(json.dumps(config.to_dict())) == {**config.to_dict(), "betas": list(config.betas)}
    hist = History(step=[1, 2], train_loss=[2.0, 1.5], val_loss=[1.7], val_step=[2])
    assert hist.to_dict() == {"step": [1, 2], "train_loss": [2.0, 1.5], "val_loss": [1.7], "val_step": [2],
                              "grad_norm": [], "lr": [], "seconds": []}


# ---------------------------------------------------------------- input checks and their messages

@pytest.mark.parametrize("ids,got", [
    ([0, 1, 2, 3], "list"),
    (torch.zeros(10), "torch.float32 tensor of shape (10,)"),
    (torch.zeros(2, 5, dtype=torch.long), "torch.int64 tensor of shape (2, 5)"),  # right dtype, wrong rank
])
def test_train_lm_names_the_bad_ids_argument(ids, got):
    good = repetitive_ids(400)
    with pytest.raises(ValueError) as err:
        train_lm(RecordingLM(), ids, None, TrainConfig.tiny(), progress=False)
    assert str(err.value) == f"train_lm train_ids: expected a 1-D LongTensor of token ids (N,), got {got}"
    with pytest.raises(ValueError) as err:
        train_lm(RecordingLM(), good, ids, TrainConfig.tiny(), progress=False)
    assert str(err.value) == f"train_lm val_ids: expected a 1-D LongTensor of token ids (N,), got {got}"


def test_train_lm_rejects_a_config_that_is_not_a_trainconfig():
    with pytest.raises(TypeError) as err:
        train_lm(RecordingLM(), repetitive_ids(400), None, {"max_steps": 3}, progress=False)
    assert str(err.value) == "train_lm: expected config to be a TrainConfig, got dict"


def test_detach_state_error_names_the_type_it_got():
    with pytest.raises(TypeError) as err:
        detach_state({"h": torch.zeros(1)})
    assert str(err.value) == "detach_state: expected None, a Tensor or a tuple/list of them, got dict"


# ---------------------------------------------------------------- bfloat16 choice

def _set_cpu_flags(monkeypatch, amx: bool, avx512_bf16: bool) -> None:
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16, raising=False)


def test_bfloat16_refusal_message_in_full(monkeypatch):
    from lstm_course.training import _autocast

    _set_cpu_flags(monkeypatch, False, False)
    with pytest.raises(ValueError) as err:
        _autocast(torch.device("cpu"), "bfloat16")
    assert str(err.value) == ("amp_dtype='bfloat16': expected a CPU with AMX or AVX-512 BF16, got one with neither; "
                              "use amp_dtype='auto' (float32 on this CPU) or None")


def test_autocast_context_uses_bfloat16_or_is_off(monkeypatch):
    from lstm_course.training import _autocast

    _set_cpu_flags(monkeypatch, True, False)
    on = _autocast(torch.device("cpu"), "bfloat16")
    assert on.fast_dtype == torch.bfloat16 and on._enabled
    assert not _autocast(torch.device("cpu"), None)._enabled
    # on a GPU autocast's own default is float16, so the dtype must be passed; the context is only built
    # here (no CUDA on this machine: torch warns and disables it), which is enough to read its dtype
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert _autocast(torch.device("cuda"), "bfloat16").fast_dtype == torch.bfloat16


def test_auto_picks_bfloat16_on_a_gpu_that_supports_it(monkeypatch):
    from lstm_course.training import resolve_amp_dtype

    _set_cpu_flags(monkeypatch, False, False)  # the answer must come from the GPU, not from this CPU
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert resolve_amp_dtype("auto", "cuda") == "bfloat16"
    assert resolve_amp_dtype("auto", torch.device("cuda", 0)) == "bfloat16"
    assert resolve_amp_dtype("auto", "cpu") is None


def test_a_torch_without_the_cpu_flag_readers_keeps_float32(monkeypatch):
    # torch < 2.3 lacks these private helpers: "auto" must fall back to float32, not crash
    from lstm_course.training import _cpu_has_bf16, resolve_amp_dtype

    monkeypatch.delattr(torch.cpu, "_is_amx_tile_supported", raising=False)
    monkeypatch.delattr(torch.cpu, "_is_avx512_bf16_supported", raising=False)
    assert _cpu_has_bf16() is False
    assert resolve_amp_dtype("auto", "cpu") is None


# ---------------------------------------------------------------- the learning-rate schedule, step by step

def _cosine(k: int, config: TrainConfig, p: float) -> float:
    # the documented schedule written out again (not via lr_at): linear warm-up, then cosine lr → min_lr
    if k < config.warmup_steps:
        return config.lr * (k + 1) / config.warmup_steps
    return config.min_lr + 0.5 * (config.lr - config.min_lr) * (1 + math.cos(math.pi * min(p, 1.0)))


@pytest.mark.parametrize("warmup,max_steps", [(3, 11), (2, 4), (0, 5)])
def test_step_budget_schedule_reaches_min_lr_exactly_at_the_last_step(warmup, max_steps):
    cfg = TrainConfig.tiny(bptt=10, lr=1e-2, min_lr=1e-3, warmup_steps=warmup, max_steps=max_steps)
    hist = train_lm(RecordingLM(), repetitive_ids(400), None, cfg, progress=False)
    expected = [_cosine(k, cfg, (k - warmup) / (max_steps - warmup - 1)) for k in range(max_steps)]
    assert hist.lr == pytest.approx(expected, rel=1e-12)
    assert hist.lr[-1] == pytest.approx(cfg.min_lr, rel=1e-12)


class FakeClock:
    """Stands in for the ``time`` module inside training: time moves only when the model runs a forward."""

    def __init__(self, start: float = 1000.0, tick: float = 1 / 64):
        self.now, self.tick = start, tick  # dyadic tick: sums are exact, so ">= max_seconds" is exact too

    def perf_counter(self) -> float:
        return self.now


class ClockedLM(RecordingLM):
    def __init__(self, clock: FakeClock):
        super().__init__()
        self.clock = clock

    def forward(self, x, state=None):
        self.clock.now += self.clock.tick
        return super().forward(x, state)


@pytest.mark.parametrize("warmup", [2, 0])
def test_time_budget_schedule_decays_over_the_seconds_after_warmup(monkeypatch, warmup):
    import lstm_course.training as training

    clock = FakeClock()
    monkeypatch.setattr(training, "time", clock)
    budget_ticks = 12
    cfg = TrainConfig.tiny(bptt=10, lr=1e-2, min_lr=1e-3, warmup_steps=warmup, max_steps=None,
                           max_seconds=budget_ticks * clock.tick)  # < 1 s: the budget is not rounded to seconds
    hist = train_lm(ClockedLM(clock), repetitive_ids(400), None, cfg, progress=False)
    # one tick per step: the step that reaches the budget is the last one, and seconds count from the start
    assert hist.step == list(range(1, budget_ticks + 1))
    assert hist.seconds == [k * clock.tick for k in range(1, budget_ticks + 1)]
    # step k starts at k ticks; the cosine runs over the time left once warm-up ended (at `warmup` ticks)
    expected = [_cosine(k, cfg, (k - warmup) / (budget_ticks - warmup)) for k in range(budget_ticks)]
    assert hist.lr == pytest.approx(expected, rel=1e-12)


def test_with_both_budgets_the_schedule_follows_the_one_closer_to_its_end(monkeypatch):
    import lstm_course.training as training

    clock = FakeClock()
    monkeypatch.setattr(training, "time", clock)
    # time runs out after 12 ticks, long before 100 steps: the time fraction leads
    cfg = TrainConfig.tiny(bptt=10, warmup_steps=2, max_steps=100, max_seconds=12 * clock.tick)
    hist = train_lm(ClockedLM(clock), repetitive_ids(400), None, cfg, progress=False)
    expected = [_cosine(k, cfg, max((k - 2) / (100 - 2 - 1), (k - 2) / (12 - 2))) for k in range(12)]
    assert len(hist.step) == 12 and hist.lr == pytest.approx(expected, rel=1e-12)


# ---------------------------------------------------------------- optimiser set-up

class SpareParamsLM(RecordingLM):
    """RecordingLM plus a matrix and a bias that get zero gradients: only weight decay can move them."""

    def __init__(self):
        super().__init__()
        self.spare_w = nn.Parameter(torch.ones(3, 3))
        self.spare_b = nn.Parameter(torch.ones(3))

    def forward(self, x, state=None):
        logits, state = super().forward(x, state)
        return logits + 0.0 * (self.spare_w.sum() + self.spare_b.sum()), state


def test_weight_decay_shrinks_matrices_only():
    model = SpareParamsLM()
    cfg = TrainConfig.tiny(bptt=10, max_steps=6, weight_decay=0.3)
    hist = train_lm(model, repetitive_ids(400), None, cfg, progress=False)
    # AdamW's decoupled decay multiplies by (1 - lr * wd) each step; a zero gradient adds nothing else
    shrink = math.prod(1 - lr * cfg.weight_decay for lr in hist.lr)
    assert model.spare_w.detach() == pytest.approx(torch.full((3, 3), shrink), rel=1e-5)
    assert torch.equal(model.spare_b.detach(), torch.ones(3))  # biases are not decayed


@pytest.mark.parametrize("fused_available", [True, False])
def test_adamw_gets_the_configured_betas_and_groups_with_or_without_the_fused_kernel(monkeypatch, fused_available):
    built = []

    class SpyAdamW(torch.optim.AdamW):
        def __init__(self, params, **kwargs):
            if kwargs.get("fused") and not fused_available:
                raise RuntimeError("fused AdamW is not supported here")  # what an unsupported device raises
            super().__init__(params, **kwargs)
            built.append(self)

    monkeypatch.setattr(torch.optim, "AdamW", SpyAdamW)
    model = SpareParamsLM()
    cfg = TrainConfig.tiny(bptt=10, max_steps=2, betas=(0.8, 0.95), weight_decay=0.25)
    hist = train_lm(model, repetitive_ids(400), None, cfg, progress=False)
    assert len(built) == 1 and len(hist.step) == 2
    groups = built[0].param_groups
    assert [g["betas"] for g in groups] == [(0.8, 0.95)] * 2
    assert [g["weight_decay"] for g in groups] == [0.25, 0.0]
    assert {id(p) for p in groups[0]["params"]} == {id(p) for p in model.parameters() if p.dim() >= 2}
    assert {id(p) for p in groups[1]["params"]} == {id(p) for p in model.parameters() if p.dim() < 2}


# ---------------------------------------------------------------- epochs: where each one starts

class InputsLM(RecordingLM):
    """Records the input chunk of every training call; ``draw`` consumes torch's global RNG like dropout."""

    def __init__(self, draw: bool = False):
        super().__init__()
        self.draw, self.inputs = draw, []

    def forward(self, x, state=None):
        if self.draw:
            torch.rand(7)
        if self.training:
            self.inputs.append(x.clone())
        return super().forward(x, state)


def _epoch_offsets(model: InputsLM, streams: torch.Tensor, bptt: int) -> list[int]:
    # an epoch begins where the state is reset; its first chunk (B, n) must be the column window
    # streams[:, o:o+n] with n = min(bptt, L - 1 - o) for the offset o it started from
    L, offsets = streams.size(1), []
    for call, x in zip(model.calls, model.inputs):
        if call["state_in"] is None:
            found = [o for o in range(L - 1)
                     if x.size(1) == min(bptt, L - 1 - o) and torch.equal(x, streams[:, o:o + x.size(1)])]
            assert len(found) == 1, "an epoch started from a chunk that is not a column window of the streams"
            offsets.append(found[0])
    return offsets


@pytest.mark.parametrize("seed", [0, 1])
def test_first_epoch_starts_at_column_0_and_later_ones_at_every_offset_below_bptt(seed):
    from lstm_course.data import batchify

    ids = repetitive_ids(20)  # B=4 → L=5: with bptt=4 every epoch is one chunk and every offset 0..3 is usable
    model = InputsLM()
    train_lm(model, ids, None, TrainConfig.tiny(bptt=4, max_steps=40, seed=seed), progress=False)
    offsets = _epoch_offsets(model, batchify(ids, 4), 4)
    assert len(offsets) == 40 and offsets[0] == 0
    assert set(offsets[1:]) == {0, 1, 2, 3}  # offset 3 leaves a 1-step chunk, still used


def test_epoch_offsets_do_not_depend_on_the_models_own_randomness():
    # dropout draws from torch's RNG; the data order must not change when a model adds or drops it
    from lstm_course.data import batchify

    ids = repetitive_ids(20)
    runs = []
    for draw in (False, True):
        model = InputsLM(draw=draw)
        train_lm(model, ids, None, TrainConfig.tiny(bptt=4, max_steps=30), progress=False)
        runs.append(_epoch_offsets(model, batchify(ids, 4), 4))
    assert runs[0] == runs[1]


def test_streams_shorter_than_an_offset_still_train():
    # L=5 with bptt=16: most drawn offsets leave fewer than 2 columns; such an epoch reads the full streams
    model = InputsLM()
    hist = train_lm(model, repetitive_ids(20), None, TrainConfig.tiny(bptt=16, max_steps=8), progress=False)
    assert hist.step == list(range(1, 9))
    assert all(x.size(1) >= 1 for x in model.inputs)


def test_without_limits_one_epoch_is_every_chunk_of_the_streams():
    from lstm_course.data import batchify, tbptt_batches

    ids = repetitive_ids(4 * 42)  # L=42: 41 targets, so bptt=10 leaves a last chunk of 1 step
    chunks = list(tbptt_batches(batchify(ids, 4), 10))
    model = InputsLM()
    hist = train_lm(model, ids, None, TrainConfig.tiny(bptt=10, max_steps=None), progress=False)
    assert len(hist.step) == len(chunks) and chunks[-1][0].size(1) == 1
    assert all(torch.equal(x, cx) for x, (cx, _) in zip(model.inputs, chunks))


def test_same_seed_same_history_other_seed_other_history():
    def run(seed):
        torch.manual_seed(123)  # same initial weights every time: only the config's seed varies
        model = CharLM(CharLMConfig.tiny(vocab_size=6))
        ids = repetitive_ids(300)
        return train_lm(model, ids, None, TrainConfig.tiny(bptt=10, max_steps=12, seed=seed), progress=False)

    a, b, c = run(0), run(0), run(1)
    assert a.train_loss == b.train_loss and a.grad_norm == b.grad_norm
    assert a.train_loss != c.train_loss  # no dropout in this model: the seed moves the later epochs' offsets


# ---------------------------------------------------------------- what the progress bar says

def test_progress_bar_is_on_by_default_and_labelled(capsys):
    import re

    train_lm(RecordingLM(), repetitive_ids(400), None, TrainConfig.tiny(bptt=10, max_steps=2))
    err = capsys.readouterr().err
    assert re.search(r"^train: .*2/2 .*[\d?.](step/s|s/step)", err.replace("\r", "\n"), re.M), err


def test_progress_bar_postfix_shows_the_latest_loss_lr_and_val(monkeypatch):
    import lstm_course.training as training

    shown = []

    class SpyBar(training.tqdm):
        def set_postfix(self, *args, **kwargs):
            super().set_postfix(*args, **kwargs)
            shown.append(self.postfix)

    monkeypatch.setattr(training, "tqdm", SpyBar)
    ids = repetitive_ids(600)
    # eval after step 11 and 22; the losses reach the host in groups of 10 steps (at 10, 11, 21, 22)
    hist = train_lm(RecordingLM(), ids[:500], ids[500:], TrainConfig.tiny(bptt=10, max_steps=22, eval_every=11),
                    progress=False)
    L, lr, V = hist.train_loss, hist.lr, hist.val_loss

    def steps(i: int) -> str:  # after a flush at step i+1
        return f"loss={L[i]:.3f}, lr={lr[i]:.2e}"

    assert hist.val_step == [11, 22]
    assert shown == [steps(9),
                     steps(10), f"loss={L[10]:.3f}, val={V[0]:.3f}",
                     f"{steps(20)}, val={V[0]:.3f}",
                     f"{steps(21)}, val={V[0]:.3f}", f"loss={L[21]:.3f}, val={V[1]:.3f}"]


def test_validation_uses_eval_batches_and_the_training_precision(monkeypatch):
    import lstm_course.training as training

    calls = []
    real = training.evaluate_lm

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(training, "evaluate_lm", spy)
    _set_cpu_flags(monkeypatch, False, False)  # "auto" → float32 here, so it runs on any CPU
    ids = repetitive_ids(1500)
    cfg = TrainConfig.tiny(bptt=10, max_steps=4, eval_every=2, eval_batches=3, amp_dtype="auto")
    checks = []

    def on_eval(step, val):
        # the reported loss is the one over the first eval_batches chunks, not over the whole text
        checks.append((val, real(model, ids[500:], cfg.batch_size, cfg.bptt, max_batches=3),
                       real(model, ids[500:], cfg.batch_size, cfg.bptt)))

    model = RecordingLM()
    train_lm(model, ids[:500], ids[500:], cfg, progress=False, on_eval=on_eval)
    assert len(checks) == 2
    for val, first_three, whole in checks:
        assert val == pytest.approx(first_three, rel=1e-12) and val != pytest.approx(whole, rel=1e-6)
    assert [c["amp_dtype"] for c in calls] == ["auto", "auto"]
