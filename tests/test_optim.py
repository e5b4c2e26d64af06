"""Behaviour of lstm_course.optim: Newton-Schulz against an SVD in float64, the Muon step against its equations,
the AdamW/Muon split train_lm builds, and the errors. Legend: H hidden size, E embedding size, V vocabulary."""
import math

import pytest
import torch
from torch import nn
from torch.optim.optimizer import register_optimizer_step_pre_hook

from lstm_course.models import CharLM, CharLMConfig
from lstm_course.optim import NS_COEFFICIENTS, Muon, build_optimizers, newton_schulz
from lstm_course.training import TrainConfig, evaluate_lm, train_lm

torch.set_num_threads(1)


def poly(s: float, steps: int) -> float:
    """Jordan's quintic applied ``steps`` times to one number: what Newton-Schulz does to a singular value."""
    a, b, c = NS_COEFFICIENTS
    for _ in range(steps):
        s = a * s + b * s ** 3 + c * s ** 5
    return s


def reference_ns(G: torch.Tensor, steps: int) -> torch.Tensor:
    """U p(S / ||G||_F) V^T from an SVD in float64: the matrix newton_schulz approximates with products only."""
    U, S, Vh = torch.linalg.svd(G.double(), full_matrices=False)
    s = (S / torch.linalg.matrix_norm(G.double())).tolist()
    return U @ torch.diag(torch.tensor([poly(x, steps) for x in s], dtype=torch.float64)) @ Vh


# ---------------------------------------------------------------- Newton-Schulz

def test_newton_schulz_of_a_diagonal_matrix_is_the_polynomial_of_each_normalised_entry():
    # hand-checkable: diag(3, 0.5) has singular values 3 and 0.5, Frobenius norm sqrt(9.25)
    G = torch.tensor([[3.0, 0.0, 0.0], [0.0, 0.5, 0.0]], dtype=torch.float64)
    n = math.sqrt(9.25)
    expected = torch.tensor([[poly(3 / n, 3), 0, 0], [0, poly(0.5 / n, 3), 0]], dtype=torch.float64)
    assert newton_schulz(G, steps=3) == pytest.approx(expected, abs=1e-6)
    # a tall matrix (3, 2) gives the transpose: the iteration runs on its short side
    assert newton_schulz(G.T, steps=3) == pytest.approx(expected.T, abs=1e-6)


@pytest.mark.parametrize("shape", [(24, 64), (64, 24), (32, 32), (4, 48, 8)])
@pytest.mark.parametrize("steps", [1, 3, 5])
def test_newton_schulz_matches_the_svd_reference_wide_tall_square_and_batched(shape, steps):
    torch.manual_seed(sum(shape) + steps)
    G = torch.randn(*shape, dtype=torch.float64)
    got = newton_schulz(G, steps=steps)
    assert got.shape == G.shape and got.dtype == torch.float64
    expected = torch.stack([reference_ns(g, steps) for g in G.reshape(-1, *shape[-2:])]).reshape(shape)
    assert torch.allclose(got, expected, atol=1e-9)


def test_five_steps_bring_every_singular_value_near_one():
    # the point of the iteration: an (approximately) semi-orthogonal step, whatever the gradient's spectrum
    torch.manual_seed(0)
    G = torch.randn(48, 16, dtype=torch.float64) @ torch.diag(torch.logspace(-1, 1, 16, dtype=torch.float64))
    S = torch.linalg.svdvals(newton_schulz(G, steps=5))
    assert S.min() > 0.6 and S.max() < 1.25
    assert torch.linalg.svdvals(G).max() / torch.linalg.svdvals(G).min() > 30  # the input was far from it


def test_newton_schulz_in_bfloat16_returns_the_input_dtype_and_stays_close():
    torch.manual_seed(1)
    G = torch.randn(4, 96, 32)
    got = newton_schulz(G, steps=3, dtype=torch.bfloat16)
    assert got.dtype == torch.float32
    assert (got - newton_schulz(G.double(), steps=3)).abs().max() < 0.05


@pytest.mark.parametrize("G, steps, message", [
    (torch.ones(5), 3, r"expected a tensor of shape \(\.\.\., m, n\), got \(5,\)"),
    ("not a tensor", 3, "got str"),
    (torch.ones(2, 2), 0, "expected steps >= 1, got 0"),
])
def test_newton_schulz_bad_input(G, steps, message):
    with pytest.raises(ValueError, match=message):
        newton_schulz(G, steps=steps)


# ---------------------------------------------------------------- the Muon step

def blockwise(M: torch.Tensor, blocks: int, steps: int) -> torch.Tensor:
    rows = M.size(0) // blocks
    return torch.cat([reference_ns(M[k * rows:(k + 1) * rows], steps) for k in range(blocks)])


def test_two_muon_steps_follow_the_equations_block_by_block():
    # W (8, 3) as two blocks (4, 3): momentum, Nesterov, per-block orthogonalisation, decay, RMS-matched size
    torch.manual_seed(2)
    W0 = torch.randn(8, 3, dtype=torch.float64)
    g1, g2 = torch.randn(8, 3, dtype=torch.float64), torch.randn(8, 3, dtype=torch.float64)
    lr, mu, wd, steps = 0.05, 0.9, 0.1, 3
    W = nn.Parameter(W0.clone())
    opt = Muon([W], lr=lr, momentum=mu, weight_decay=wd, ns_steps=steps, blocks=2)
    size = lr * 0.2 * math.sqrt(max(4, 3))

    W.grad = g1.clone()
    opt.step()
    buf = g1
    W1 = W0 * (1 - lr * wd) - size * blockwise(g1 + mu * buf, 2, steps)
    assert torch.allclose(W.detach(), W1, atol=1e-9)

    W.grad = g2.clone()
    opt.step()
    buf = mu * buf + g2
    W2 = W1 * (1 - lr * wd) - size * blockwise(g2 + mu * buf, 2, steps)
    assert torch.allclose(W.detach(), W2, atol=1e-9)
    # the blocks matter: orthogonalising the whole (8, 3) matrix would have given another step
    assert not torch.allclose(blockwise(g1, 2, steps), reference_ns(g1, steps), atol=1e-3)


def test_muon_skips_parameters_without_a_gradient_and_returns_the_closures_loss():
    W = nn.Parameter(torch.ones(4, 4))
    opt = Muon([W], lr=0.1)
    assert opt.step(closure=lambda: 1.5) == 1.5
    assert torch.equal(W.detach(), torch.ones(4, 4))  # no grad: neither a step nor weight decay


@pytest.mark.parametrize("params, kwargs, message", [
    ([nn.Parameter(torch.ones(6))], {}, r"expected 2-D weights whose rows divide into blocks=1, got shape \(6,\)"),
    ([nn.Parameter(torch.ones(6, 2))], {"blocks": 4}, r"rows divide into blocks=4, got shape \(6, 2\)"),
    ([nn.Parameter(torch.ones(4, 2))], {"blocks": 0}, "expected blocks >= 1, got 0"),
    ([nn.Parameter(torch.ones(4, 2))], {"lr": 0.0}, "expected lr > 0, got 0.0"),
    ([nn.Parameter(torch.ones(4, 2))], {"momentum": 1.0}, "expected 0 <= momentum < 1, got 1.0"),
    ([nn.Parameter(torch.ones(4, 2))], {"weight_decay": -1.0}, "expected weight_decay >= 0, got -1.0"),
    ([nn.Parameter(torch.ones(4, 2))], {"ns_steps": 0}, "expected ns_steps >= 1, got 0"),
])
def test_muon_rejects_what_it_cannot_orthogonalise(params, kwargs, message):
    with pytest.raises(ValueError, match=message):
        Muon(params, **kwargs)


# ---------------------------------------------------------------- the split train_lm builds

def test_charlm_names_its_lstm_matrices_as_four_gate_blocks():
    model = CharLM(CharLMConfig(vocab_size=7, embed_dim=5, hidden_size=6, num_layers=2))
    named = {id(p): k for p, k in model.matrix_blocks()}
    expected = [model.lstm.weight_ih_l0, model.lstm.weight_hh_l0, model.lstm.weight_ih_l1, model.lstm.weight_hh_l1]
    assert named == {id(p): 4 for p in expected}
    assert [tuple(p.shape) for p in expected] == [(24, 5), (24, 6), (24, 6), (24, 6)]  # (4H, E), (4H, H), ...


def test_muon_takes_the_lstm_matrices_and_adamw_everything_else():
    model = CharLM(CharLMConfig.tiny(vocab_size=6))
    params = list(model.parameters())
    adamw, muon = build_optimizers(model, params, TrainConfig(optimizer="muon", weight_decay=0.3,
                                                              muon_lr_scale=0.5, muon_momentum=0.8, muon_ns_steps=2))
    assert isinstance(adamw, torch.optim.AdamW) and isinstance(muon, Muon)
    in_muon = [p for g in muon.param_groups for p in g["params"]]
    in_adamw = [p for g in adamw.param_groups for p in g["params"]]
    assert {id(p) for p in in_muon} == {id(p) for p, _ in model.matrix_blocks()}
    assert {id(p) for p in in_adamw} == {id(p) for p in params} - {id(p) for p in in_muon}  # each exactly once
    assert len(in_adamw) + len(in_muon) == len(params)
    g = muon.param_groups[0]
    assert (g["blocks"], g["lr_scale"], g["momentum"], g["ns_steps"], g["weight_decay"]) == (4, 0.5, 0.8, 2, 0.3)
    assert [g["lr_scale"] for g in adamw.param_groups] == [1.0, 1.0]


def test_adamw_is_the_only_optimizer_unless_muon_is_asked_for():
    model = CharLM(CharLMConfig.tiny(vocab_size=6))
    (adamw,) = build_optimizers(model, list(model.parameters()), TrainConfig())
    assert isinstance(adamw, torch.optim.AdamW)


def test_muon_needs_a_model_that_names_its_matrices():
    model = nn.Sequential(nn.Embedding(6, 4), nn.Linear(4, 6))
    with pytest.raises(ValueError, match="expected a model with a matrix_blocks\\(\\) method .* got Sequential"):
        build_optimizers(model, list(model.parameters()), TrainConfig(optimizer="muon"))


def test_train_lm_steps_muon_at_the_scheduled_lr_times_its_scale():
    seen = []
    handle = register_optimizer_step_pre_hook(
        lambda opt, args, kwargs: seen.append((type(opt).__name__, [g["lr"] for g in opt.param_groups])))
    try:
        model = CharLM(CharLMConfig.tiny(vocab_size=6))
        ids = torch.arange(600) % 6
        hist = train_lm(model, ids, None, TrainConfig.tiny(optimizer="muon", muon_lr_scale=0.25, max_steps=6),
                        progress=False)
    finally:
        handle.remove()
    muon_lrs = [lrs for name, lrs in seen if name == "Muon"]
    adamw_lrs = [lrs for name, lrs in seen if name == "AdamW"]
    assert len(muon_lrs) == len(adamw_lrs) == 6
    assert [lrs[0] for lrs in muon_lrs] == pytest.approx([0.25 * lr for lr in hist.lr])
    assert [lrs[0] for lrs in adamw_lrs] == pytest.approx(hist.lr)


def test_newton_schulz_runs_in_bfloat16_only_where_training_does(monkeypatch):
    built = []

    class SpyMuon(Muon):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            built.append(self.ns_dtype)

    monkeypatch.setattr("lstm_course.optim.Muon", SpyMuon)
    # pretend the CPU has bf16 units, but keep the forward pass in float32 so that any CPU runs this
    monkeypatch.setattr("lstm_course.training.resolve_amp_dtype", lambda amp_dtype, device: amp_dtype)
    monkeypatch.setattr("lstm_course.training._autocast",
                        lambda device, amp_dtype: torch.autocast("cpu", enabled=False))
    ids = torch.arange(600) % 6
    for amp in (None, "bfloat16"):
        train_lm(CharLM(CharLMConfig.tiny(vocab_size=6)), ids, None,
                 TrainConfig.tiny(optimizer="muon", amp_dtype=amp, max_steps=1), progress=False)
    assert built == [None, torch.bfloat16]


def test_muon_training_lowers_the_loss_of_the_course_charlm():
    torch.manual_seed(0)
    ids = torch.tensor([0, 1, 2, 3, 4, 5] * 500)
    model = CharLM(CharLMConfig.tiny(vocab_size=6))
    before = evaluate_lm(model, ids[2500:], batch_size=2, bptt=50)
    train_lm(model, ids[:2500], None, TrainConfig.tiny(optimizer="muon", max_steps=60, bptt=20), progress=False)
    after = evaluate_lm(model, ids[2500:], batch_size=2, bptt=50)
    assert after < 0.5 * before  # a period-6 pattern: at least halve the loss, as AdamW does


@pytest.mark.parametrize("overrides, message", [
    ({"optimizer": "sgd"}, r"expected optimizer in \['adamw', 'muon'\], got 'sgd'"),
    ({"muon_lr_scale": 0.0}, "expected muon_lr_scale > 0, got 0.0"),
    ({"muon_momentum": 1.0}, "expected 0 <= muon_momentum < 1, got 1.0"),
    ({"muon_ns_steps": 0}, "expected muon_ns_steps >= 1, got 0"),
])
def test_config_rejects_bad_optimizer_settings(overrides, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**overrides)
