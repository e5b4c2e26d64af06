"""The hand-written cell against PyTorch's, micrograd-style: float64 values AND gradients."""
import math

import pytest
import torch
from torch import nn

from lstm_course.cell import (HandLSTM, ScriptedLSTM, init_forget_bias, lstm_cell, lstm_layer,
                              scripted_lstm_layer, trace_gates)

TOL = dict(rtol=1e-10, atol=1e-12)
B, T, I, H = 3, 5, 4, 6


def cell_weights(cell):
    return cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh


def layer_weights(lstm, k=0):
    return tuple(getattr(lstm, f"{n}_l{k}") for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))


def test_cell_hand_computable_case():
    # I = H = 1, all weights zero and no biases, so every gate is known: i = f = o = sigmoid(0) = 0.5, g = tanh(0) = 0.
    z = torch.zeros(4, 1, dtype=torch.float64)
    h, c = lstm_cell(torch.ones(1, 1, dtype=torch.float64), (torch.zeros(1, 1, dtype=torch.float64),
                     torch.full((1, 1), 2.0, dtype=torch.float64)), z, z, None, None)
    assert c.item() == pytest.approx(0.5 * 2.0)  # f * c_prev + i * g
    assert h.item() == pytest.approx(0.5 * math.tanh(1.0))  # o * tanh(c)


def test_cell_matches_lstmcell_values_and_grads():
    torch.manual_seed(0)
    ref = nn.LSTMCell(I, H, dtype=torch.float64)
    x = torch.randn(B, I, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(B, H, dtype=torch.float64, requires_grad=True)
    c0 = torch.randn(B, H, dtype=torch.float64, requires_grad=True)
    h_ref, c_ref = ref(x, (h0, c0))
    h, c = lstm_cell(x, (h0, c0), *cell_weights(ref))
    torch.testing.assert_close(h, h_ref, **TOL)
    torch.testing.assert_close(c, c_ref, **TOL)
    w = torch.randn(2, B, H, dtype=torch.float64)  # random upstream gradient touches h and c
    inputs = (x, h0, c0, *ref.parameters())
    g_ref = torch.autograd.grad((h_ref * w[0]).sum() + (c_ref * w[1]).sum(), inputs)
    g = torch.autograd.grad((h * w[0]).sum() + (c * w[1]).sum(), inputs)
    for a, b in zip(g, g_ref):
        torch.testing.assert_close(a, b, **TOL)


def test_cell_state_none_is_zeros_and_shapes():
    torch.manual_seed(1)
    ref = nn.LSTMCell(I, H)
    x = torch.randn(B, I)
    h, c = lstm_cell(x, None, *cell_weights(ref))
    assert h.shape == c.shape == (B, H) and h.dtype == torch.float32
    torch.testing.assert_close(h, ref(x)[0])


def test_cell_gradcheck():
    torch.manual_seed(2)
    args = [torch.randn(*s, dtype=torch.float64, requires_grad=True)
            for s in [(2, 3), (2, 4), (2, 4), (16, 3), (16, 4), (16,), (16,)]]
    x, h, c, *w = args
    assert torch.autograd.gradcheck(lambda x, h, c, *w: lstm_cell(x, (h, c), *w), args)


def test_cell_bad_shapes():
    W_ih, W_hh = torch.zeros(4 * H, I), torch.zeros(4 * H, H)
    with pytest.raises(ValueError, match="expected x of shape"):
        lstm_cell(torch.zeros(B, I + 1), None, W_ih, W_hh)
    with pytest.raises(ValueError, match="expected W_hh"):
        lstm_cell(torch.zeros(B, I), None, W_ih, torch.zeros(H, H))
    with pytest.raises(ValueError, match="expected h of shape"):
        lstm_cell(torch.zeros(B, I), (torch.zeros(B + 1, H), torch.zeros(B, H)), W_ih, W_hh)
    with pytest.raises(ValueError, match="expected b_ih"):
        lstm_cell(torch.zeros(B, I), None, W_ih, W_hh, torch.zeros(H), torch.zeros(4 * H))


def test_layer_matches_nn_lstm_values_and_grads():
    torch.manual_seed(3)
    ref = nn.LSTM(I, H, dtype=torch.float64)
    x = torch.randn(T, B, I, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(1, B, H, dtype=torch.float64, requires_grad=True)
    c0 = torch.randn(1, B, H, dtype=torch.float64, requires_grad=True)
    out_ref, (hn_ref, cn_ref) = ref(x, (h0, c0))
    out, (hn, cn) = lstm_layer(x, (h0[0], c0[0]), *layer_weights(ref))
    assert out.shape == (T, B, H) and hn.shape == (B, H)
    torch.testing.assert_close(out, out_ref, **TOL)
    torch.testing.assert_close(hn, hn_ref[0], **TOL)
    torch.testing.assert_close(cn, cn_ref[0], **TOL)
    w = torch.randn(T, B, H, dtype=torch.float64)
    inputs = (x, h0, c0, *ref.parameters())
    g_ref = torch.autograd.grad((out_ref * w).sum() + cn_ref.sum(), inputs)
    g = torch.autograd.grad((out * w).sum() + cn.sum(), inputs)
    for a, b in zip(g, g_ref):
        torch.testing.assert_close(a, b, **TOL)


def test_layer_state_carries_over_chunks():
    # Running T steps at once equals running two chunks with the state handed over (what TBPTT relies on).
    torch.manual_seed(4)
    w = layer_weights(nn.LSTM(I, H, dtype=torch.float64))
    x = torch.randn(T, B, I, dtype=torch.float64)
    full, (h, c) = lstm_layer(x, None, *w)
    a, st = lstm_layer(x[:2], None, *w)
    b, (h2, c2) = lstm_layer(x[2:], st, *w)
    torch.testing.assert_close(torch.cat([a, b]), full, **TOL)
    torch.testing.assert_close(c2, c, **TOL)
    with pytest.raises(ValueError, match="T = 0"):
        lstm_layer(x[:0], None, *w)


@pytest.mark.parametrize("batch_first", [False, True])
def test_handlstm_state_dict_round_trip_and_equal_outputs(batch_first):
    torch.manual_seed(5)
    hand = HandLSTM(I, H, batch_first=batch_first, dtype=torch.float64)
    ref = nn.LSTM(I, H, batch_first=batch_first, dtype=torch.float64)
    assert set(hand.state_dict()) == set(ref.state_dict())
    ref.load_state_dict(hand.state_dict())
    x = torch.randn(B, T, I, dtype=torch.float64) if batch_first else torch.randn(T, B, I, dtype=torch.float64)
    state = (torch.randn(1, B, H, dtype=torch.float64), torch.randn(1, B, H, dtype=torch.float64))
    out, (hn, cn) = hand(x, state)
    out_ref, (hn_ref, cn_ref) = ref(x, state)
    assert out.shape == out_ref.shape and hn.shape == (1, B, H)
    torch.testing.assert_close(out, out_ref, **TOL)
    torch.testing.assert_close(cn, cn_ref, **TOL)
    # and back: nn.LSTM's (freshly re-initialised) weights load into HandLSTM
    ref2 = nn.LSTM(I, H, batch_first=batch_first, dtype=torch.float64)
    hand.load_state_dict(ref2.state_dict())
    torch.testing.assert_close(hand(x)[0], ref2(x)[0], **TOL)


def test_handlstm_init_range_and_bad_input():
    hand = HandLSTM(I, 25)
    for p in hand.parameters():
        assert p.abs().max() <= 1 / 5 and p.std() > 0
    with pytest.raises(ValueError, match="expected x of shape"):
        hand(torch.zeros(B, I))
    with pytest.raises(ValueError, match="expected h_0"):
        hand(torch.zeros(T, B, I), (torch.zeros(B, 25), torch.zeros(B, 25)))
    nobias = HandLSTM(I, H, bias=False)
    assert nobias.bias_ih_l0 is None and len(list(nobias.parameters())) == 2


def test_scripted_matches_eager():
    torch.manual_seed(6)
    ref = nn.LSTM(I, H, dtype=torch.float64)
    x = torch.randn(T, B, I, dtype=torch.float64, requires_grad=True)
    out, (h, c) = scripted_lstm_layer(x, None, *layer_weights(ref))
    out_ref, (h_ref, c_ref) = ref(x)
    torch.testing.assert_close(out, out_ref, **TOL)
    torch.testing.assert_close(c, c_ref[0], **TOL)
    g = torch.autograd.grad(out.sum(), (x, ref.weight_hh_l0))
    g_ref = torch.autograd.grad(out_ref.sum(), (x, ref.weight_hh_l0))
    for a, b in zip(g, g_ref):
        torch.testing.assert_close(a, b, **TOL)
    with pytest.raises(ValueError, match=r"expected h_0 of shape \(B, H\)"):
        scripted_lstm_layer(x, (torch.zeros(B + 1, H), torch.zeros(B, H)), *layer_weights(ref))
    mod = ScriptedLSTM(I, H, batch_first=True, dtype=torch.float64)
    hand = HandLSTM(I, H, batch_first=True, dtype=torch.float64)
    hand.load_state_dict(mod.state_dict())
    xb = torch.randn(B, T, I, dtype=torch.float64)
    torch.testing.assert_close(mod(xb)[0], hand(xb)[0], **TOL)


@pytest.mark.parametrize("factory", [lambda: nn.LSTM(I, H, num_layers=2, bidirectional=True), lambda: nn.LSTMCell(I, H),
                                     lambda: HandLSTM(I, H)])
def test_init_forget_bias(factory):
    torch.manual_seed(7)
    m = factory()
    before = {k: v.clone() for k, v in m.state_dict().items()}
    init_forget_bias(m, 1.5)
    n_bias = 0
    for k, v in m.state_dict().items():
        if k.startswith("bias_ih"):
            n_bias += 1
            v_hh = m.state_dict()["bias_hh" + k[len("bias_ih"):]]
            torch.testing.assert_close(v[H:2 * H] + v_hh[H:2 * H], torch.full((H,), 1.5))
            keep = torch.ones(4 * H, dtype=torch.bool)
            keep[H:2 * H] = False
            assert torch.equal(v[keep], before[k][keep])  # other gates untouched
        elif k.startswith("weight"):
            assert torch.equal(v, before[k])
    expected = {nn.LSTM: 4, nn.LSTMCell: 1, HandLSTM: 1}[type(m)]
    assert n_bias == expected
    with pytest.raises(ValueError, match="with biases"):
        init_forget_bias(nn.LSTM(I, H, bias=False))


@pytest.mark.parametrize("batch_first", [True, False])
def test_trace_gates_reproduces_nn_lstm(batch_first):
    torch.manual_seed(8)
    lstm = nn.LSTM(I, H, num_layers=2, batch_first=batch_first, dtype=torch.float64)
    x = torch.randn(1, T, I, dtype=torch.float64) if batch_first else torch.randn(T, 1, I, dtype=torch.float64)
    out, _ = lstm(x)
    tr = trace_gates(lstm, x, layer=1)
    assert set(tr) == {"i", "f", "g", "o", "c", "h"} and all(v.shape == (T, H) for v in tr.values())
    torch.testing.assert_close(tr["h"], out.reshape(T, H), **TOL)  # top layer h == nn.LSTM output
    torch.testing.assert_close(tr["h"], tr["o"] * torch.tanh(tr["c"]), **TOL)
    for g in "ifo":
        assert ((tr[g] > 0) & (tr[g] < 1)).all()
    # a (T, I) input and an explicit state also work; layer 0 equals a 1-layer LSTM with those weights
    one = nn.LSTM(I, H, dtype=torch.float64)
    one.load_state_dict({k: v for k, v in lstm.state_dict().items() if k.endswith("_l0")})
    st = (torch.randn(2, 1, H, dtype=torch.float64), torch.randn(2, 1, H, dtype=torch.float64))
    tr0 = trace_gates(lstm, x.reshape(T, I), layer=0, state=st)
    out0, (_, c0) = one(x.reshape(T, 1, I), (st[0][:1], st[1][:1]))
    torch.testing.assert_close(tr0["h"], out0[:, 0], **TOL)
    torch.testing.assert_close(tr0["c"][-1], c0[0, 0], **TOL)


def test_trace_gates_errors():
    lstm = nn.LSTM(I, H)
    with pytest.raises(ValueError, match="expected 0 <= layer < 1"):
        trace_gates(lstm, torch.zeros(T, I), layer=1)
    with pytest.raises(ValueError, match="unidirectional"):
        trace_gates(nn.LSTM(I, H, bidirectional=True), torch.zeros(T, I))
    with pytest.raises(ValueError, match="single sequence"):
        trace_gates(lstm, torch.zeros(T, 2, I))
    with pytest.raises(ValueError, match="expected x of shape"):
        trace_gates(lstm, torch.zeros(T, I + 1))


# --- every validation branch names the offending argument and the shapes involved -----------------
# Students debug from the message alone, so each test matches the full "expected ..., got ..." text:
# the argument's name, the shape it should have (computed from H = 6, I = 4, B = 3) and the shape it had.

def _w(**bad):
    """Valid LSTM weights (W_ih (4H, I), W_hh (4H, H), b_ih, b_hh (4H,)) with some replaced by `bad`."""
    w = dict(W_ih=torch.zeros(4 * H, I), W_hh=torch.zeros(4 * H, H), b_ih=torch.zeros(4 * H), b_hh=torch.zeros(4 * H))
    w.update(bad)
    return w["W_ih"], w["W_hh"], w["b_ih"], w["b_hh"]


BAD_WEIGHTS = [
    # W_ih is 2-D but has the wrong number of rows: the shape check must reject it even though dim() == 2
    (dict(W_ih=torch.zeros(3 * H, I)), r"expected W_ih of shape (4H, I) = (24, I), got (18, 4)"),
    (dict(W_ih=torch.zeros(4 * H)), r"expected W_ih of shape (4H, I) = (24, I), got (24,)"),
    (dict(W_hh=torch.zeros(4 * H, H + 1)), r"expected W_hh of shape (4H, H), got (24, 7)"),
    (dict(b_ih=torch.zeros(H)), r"expected b_ih of shape (4H,) = (24,), got (6,)"),
    (dict(b_hh=torch.zeros(H)), r"expected b_hh of shape (4H,) = (24,), got (6,)"),
    (dict(b_hh=torch.zeros(4 * H + 1)), r"expected b_hh of shape (4H,) = (24,), got (25,)"),
]


@pytest.mark.parametrize("bad, msg", BAD_WEIGHTS)
def test_lstm_cell_rejects_bad_weights_with_full_message(bad, msg):
    with pytest.raises(ValueError) as e:
        lstm_cell(torch.zeros(B, I), None, *_w(**bad))
    assert str(e.value) == msg


@pytest.mark.parametrize("layer", [lstm_layer, scripted_lstm_layer])
@pytest.mark.parametrize("bad, msg", BAD_WEIGHTS)
def test_layers_reject_bad_weights_with_full_message(layer, bad, msg):
    with pytest.raises(ValueError) as e:
        layer(torch.zeros(T, B, I), None, *_w(**bad))
    assert str(e.value) == msg


@pytest.mark.parametrize("which, msg", [(0, "expected h of shape (B, H) = (3, 6), got (2, 6)"),
                                        (1, "expected c of shape (B, H) = (3, 6), got (3, 5)")])
def test_lstm_cell_rejects_bad_state_with_full_message(which, msg):
    state = [torch.zeros(B, H), torch.zeros(B, H)]
    state[which] = torch.zeros(B - 1, H) if which == 0 else torch.zeros(B, H - 1)
    with pytest.raises(ValueError) as e:
        lstm_cell(torch.zeros(B, I), tuple(state), *_w())
    assert str(e.value) == msg


@pytest.mark.parametrize("layer", [lstm_layer, scripted_lstm_layer])
@pytest.mark.parametrize("x_shape, state_shapes, msg", [
    ((T, B, I + 1), None, "expected x of shape (T, B, I) = (T, B, 4), got (5, 3, 5)"),
    ((B, I), None, "expected x of shape (T, B, I) = (T, B, 4), got (3, 4)"),
    ((0, B, I), None, "expected at least one time step, got T = 0"),
    ((T, B, I), ((B + 1, H), (B, H)), "expected h_0 of shape (B, H) = (3, 6), got (4, 6)"),
    ((T, B, I), ((B, H), (1, B, H)), "expected c_0 of shape (B, H) = (3, 6), got (1, 3, 6)"),
])
def test_layers_reject_bad_input_with_full_message(layer, x_shape, state_shapes, msg):
    state = None if state_shapes is None else tuple(torch.zeros(s) for s in state_shapes)
    with pytest.raises(ValueError) as e:
        layer(torch.zeros(x_shape), state, *_w())
    assert str(e.value) == msg


@pytest.mark.parametrize("layer", [lstm_layer, scripted_lstm_layer])
@pytest.mark.parametrize("steps", [1, 2])
def test_layers_short_sequences_match_nn_lstm(layer, steps):
    # T = 1 is the smallest legal input (only T = 0 is an error); B = 2 != T so a check on the wrong axis shows
    torch.manual_seed(9)
    ref = nn.LSTM(I, H, dtype=torch.float64)
    x = torch.randn(steps, 2, I, dtype=torch.float64)
    h0, c0 = torch.randn(2, 1, 2, H, dtype=torch.float64)
    out_ref, (h_ref, c_ref) = ref(x, (h0, c0))
    out, (h, c) = layer(x, (h0[0], c0[0]), *layer_weights(ref))
    torch.testing.assert_close(out, out_ref, **TOL)
    torch.testing.assert_close(h, h_ref[0], **TOL)
    torch.testing.assert_close(c, c_ref[0], **TOL)


# --- HandLSTM: constructor arguments, defaults and errors ------------------------------------------

def test_handlstm_defaults_match_nn_lstm_defaults():
    # HandLSTM(I, H) must behave like nn.LSTM(I, H): time-first input and both biases
    torch.manual_seed(10)
    hand, ref = HandLSTM(I, H, dtype=torch.float64), nn.LSTM(I, H, dtype=torch.float64)
    assert hand.batch_first is False and hand.bias is True
    assert repr(hand) == "HandLSTM(4, 6, bias=True, batch_first=False)"
    ref.load_state_dict(hand.state_dict())
    x = torch.randn(T, B, I, dtype=torch.float64)  # T != B: a batch-first reading would give another shape
    out, (h, c) = hand(x)
    out_ref, (h_ref, c_ref) = ref(x)
    assert out.shape == (T, B, H)
    torch.testing.assert_close(out, out_ref, **TOL)
    torch.testing.assert_close(h, h_ref, **TOL)


@pytest.mark.parametrize("batch_first", [False, True])
def test_handlstm_without_bias_matches_nn_lstm(batch_first):
    torch.manual_seed(11)
    hand = HandLSTM(I, H, bias=False, batch_first=batch_first, dtype=torch.float64)
    ref = nn.LSTM(I, H, bias=False, batch_first=batch_first, dtype=torch.float64)
    assert hand.bias_ih_l0 is None and hand.bias_hh_l0 is None
    assert set(hand.state_dict()) == set(ref.state_dict()) == {"weight_ih_l0", "weight_hh_l0"}
    assert repr(hand) == f"HandLSTM(4, 6, bias=False, batch_first={batch_first})"
    ref.load_state_dict(hand.state_dict())
    x = torch.randn(B, T, I, dtype=torch.float64) if batch_first else torch.randn(T, B, I, dtype=torch.float64)
    out, (h, c) = hand(x)
    out_ref, (h_ref, c_ref) = ref(x)
    torch.testing.assert_close(out, out_ref, **TOL)
    torch.testing.assert_close(c, c_ref, **TOL)


def test_handlstm_smallest_sizes_are_legal():
    hand = HandLSTM(1, 1)  # I = H = 1 is a valid (if tiny) LSTM; only sizes below 1 are errors
    out, (h, c) = hand(torch.zeros(2, 1, 1))
    assert out.shape == (2, 1, 1) and h.shape == c.shape == (1, 1, 1)


@pytest.mark.parametrize("sizes, msg", [((0, H), "expected input_size and hidden_size >= 1, got 0 and 6"),
                                        ((I, 0), "expected input_size and hidden_size >= 1, got 4 and 0"),
                                        ((-1, -2), "expected input_size and hidden_size >= 1, got -1 and -2")])
def test_handlstm_rejects_empty_sizes(sizes, msg):
    with pytest.raises(ValueError) as e:
        HandLSTM(*sizes)
    assert str(e.value) == msg


def test_handlstm_init_is_symmetric_around_zero():
    # uniform(-1/sqrt(H), 1/sqrt(H)) as nn.LSTM: with 25 * 4 * 25 draws both signs must appear
    torch.manual_seed(12)
    for p in HandLSTM(I, 25).parameters():
        assert p.min() < 0 < p.max() and p.abs().max() <= 1 / 5


@pytest.mark.parametrize("batch_first, layout", [(False, "(T, B, I)"), (True, "(B, T, I)")])
def test_handlstm_bad_x_message_names_its_layout(batch_first, layout):
    hand = HandLSTM(I, H, batch_first=batch_first)
    with pytest.raises(ValueError) as e:
        hand(torch.zeros(B, I))
    assert str(e.value) == f"expected x of shape {layout}, got (3, 4)"


@pytest.mark.parametrize("which, name", [(0, "h_0"), (1, "c_0")])
def test_handlstm_bad_state_message_names_the_tensor(which, name):
    hand = HandLSTM(I, H)
    state = [torch.zeros(1, B, H), torch.zeros(1, B, H)]
    state[which] = torch.zeros(B, H)  # the (B, H) of lstm_layer instead of nn.LSTM's (1, B, H)
    with pytest.raises(ValueError) as e:
        hand(torch.zeros(T, B, I), tuple(state))
    assert str(e.value) == f"expected {name} of shape (1, B, H) = (1, 3, 6), got (3, 6)"


# --- init_forget_bias: exactly the forget slice, default value, errors -----------------------------

@pytest.mark.parametrize("factory", [lambda: nn.LSTM(I, H, num_layers=2, bidirectional=True), lambda: nn.LSTMCell(I, H),
                                     lambda: HandLSTM(I, H)])
@pytest.mark.parametrize("value", [None, -0.5])
def test_init_forget_bias_sets_only_the_forget_slices(factory, value):
    torch.manual_seed(13)
    m = factory()
    before = {k: v.clone() for k, v in m.state_dict().items()}
    if value is None:
        init_forget_bias(m)
        value = 1.0  # the documented default
    else:
        init_forget_bias(m, value)
    forget = torch.zeros(4 * H, dtype=torch.bool)
    forget[H:2 * H] = True
    for k, v in m.state_dict().items():
        if k.startswith("bias_ih"):
            assert torch.equal(v[forget], torch.full((H,), value))
        elif k.startswith("bias_hh"):
            assert torch.equal(v[forget], torch.zeros(H))  # so b_ih[f] + b_hh[f] is exactly value
        if k.startswith("bias"):
            assert torch.equal(v[~forget], before[k][~forget])  # i, g, o of both biases untouched
        else:
            assert torch.equal(v, before[k])


@pytest.mark.parametrize("arg, msg", [
    ("lstm", "expected an nn.LSTM or nn.LSTMCell, got str"),
    (nn.LSTM(I, H, bias=False), "expected an LSTM with biases (bias=True), got LSTM without bias_ih parameters"),
    (HandLSTM(I, H, bias=False), "expected an LSTM with biases (bias=True), got HandLSTM without bias_ih parameters"),
])
def test_init_forget_bias_errors_name_the_type(arg, msg):
    with pytest.raises(ValueError) as e:
        init_forget_bias(arg)
    assert str(e.value) == msg


def test_scripted_fn_silences_only_the_deprecation_warning(monkeypatch):
    # torch.jit.script is deprecated and says so on every compile; that warning is noise for students, but any
    # other warning from the compiler (e.g. about the source) must still reach them
    import warnings

    from lstm_course import cell

    def fake_script(fn):
        warnings.warn("torch.jit.script is deprecated", DeprecationWarning)
        warnings.warn("something the user should see", UserWarning)
        return fn

    monkeypatch.setattr(cell, "_SCRIPTED", [])
    monkeypatch.setattr(torch.jit, "script", fake_script)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        assert cell._scripted_fn() is cell._script_source
    assert [type(w.message) for w in seen] == [UserWarning]
