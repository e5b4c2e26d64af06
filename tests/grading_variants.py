"""Submissions for the graded notebooks, built from the source notebooks in code.

Each :class:`Variant` is one "student": the released notebook with its answer cells filled in. By
default every answer cell holds the instructor's solution; a variant changes some of them, either with
an exact text edit of the solution (:func:`edit`, which fails loudly when the solution no longer
contains the text, so a variant never silently turns back into the solution) or with a whole
replacement. Wrong variants are the mistakes students really make; alternatives are different but
correct ways to write the same function, which must score full marks.
"""
from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from typing import Callable, Union

Change = Union[str, Callable[[str], str]]


def edit(*pairs: str) -> Callable[[str], str]:
    """Replace each ``old`` by ``new`` (given as old, new, old, new, ...); each old must occur exactly once."""
    assert len(pairs) % 2 == 0

    def apply(src: str) -> str:
        for old, new in zip(pairs[::2], pairs[1::2]):
            count = src.count(old)
            if count != 1:
                raise ValueError(f"variant edit expects {old!r} exactly once in the solution, found it {count} times")
            src = src.replace(old, new)
        return src
    return apply


def code(text: str) -> str:
    return textwrap.dedent(text).strip("\n") + "\n"


@dataclass(frozen=True)
class Variant:
    """A submission: answer-cell grade_id -> new source (or an edit of the solution source)."""
    name: str
    changes: dict[str, Change] = field(default_factory=dict)
    lose: tuple[str, ...] = ()  # functions whose test cells must lose points (empty: full marks)
    feedback: tuple[str, ...] = ()  # words the student must read in those cells' error messages
    untouched: bool = False  # the released notebook exactly as a student receives it
    after_tests: tuple[str, ...] = ()  # cells the student adds right after the last test cell (ungraded part)


def answer(nb, answers: dict[str, str], changes: dict[str, Change], name: str = "") -> None:
    """Fill ``nb``'s answer cells in place: the solution (``answers``), changed where ``changes`` says."""
    unknown = set(changes) - set(answers)
    assert not unknown, f"{name}: no answer cells named {unknown}"
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in answers:
            change = changes.get(gid, answers[gid])
            cell.source = change(answers[gid]) if callable(change) else change


# ---------------------------------------------------------------------------------------------- gates

GATES = [
    Variant("solution"),
    Variant("untouched", untouched=True),
    # --- the ungraded part after the tests breaks: a "see it work" cell that raises, a cell that hangs
    Variant("see it work raises", after_tests=("del init_forget_bias  # the see-it-work cell calls it",)),
    Variant("a cell after the tests hangs", after_tests=("while True:\n    pass",)),
    # --- wrong but plausible: each must lose the points of its own function, and only those
    Variant("gate order i, f, o, g", {"lstm_cell": edit("i, f, g, o = gates.chunk", "i, f, o, g = gates.chunk")},
            lose=("lstm_cell",), feedback=("check the gate order i, f, g, o",)),
    Variant("gate order f, i, g, o", {"lstm_cell": edit("i, f, g, o = gates.chunk", "f, i, g, o = gates.chunk")},
            lose=("lstm_cell",), feedback=("check the gate order i, f, g, o",)),
    Variant("h without tanh", {"lstm_cell": edit("h = o * torch.tanh(c)", "h = o * c")},
            lose=("lstm_cell",), feedback=("must go through tanh",)),
    Variant("old cell state in h", {"lstm_cell": edit("h = o * torch.tanh(c)", "h = o * torch.tanh(c_prev)")},
            lose=("lstm_cell",), feedback=("old cell state",)),
    Variant("sigmoid on the candidate", {"lstm_cell": edit("torch.tanh(g)", "torch.sigmoid(g)")},
            lose=("lstm_cell",), feedback=("went through sigmoid",)),
    Variant("one bias only", {"lstm_cell": edit(" + b_hh  # (B, 4H)", "  # (B, 4H)")},
            lose=("lstm_cell",), feedback=("both biases",)),
    Variant("W not transposed", {"lstm_cell": edit("gates = x @ W_ih.T", "gates = x @ W_ih")},
            lose=("lstm_cell",), feedback=("x @ W_ih.T + h_prev @ W_hh.T",)),
    Variant("cell calls torch.lstm_cell", {"lstm_cell": code("""
        def lstm_cell(x, state, W_ih, W_hh, b_ih, b_hh):
            return tuple(torch.lstm_cell(x, state, W_ih, W_hh, b_ih, b_hh))
        """)}, lose=("lstm_cell",), feedback=("write the gate equations yourself",)),
    Variant("cell cuts the graph", {"lstm_cell": edit("return h, c", "return h.detach(), c.detach()")},
            lose=("lstm_cell",), feedback=("connected to the graph",)),
    Variant("cell updates c_prev in place", {"lstm_cell": edit(
        "c = f * c_prev + i * g  # (B, H)", "c = c_prev.mul_(f).add_(i * g)  # (B, H)")},
            lose=("lstm_cell",), feedback=("in place",)),
    Variant("layer confuses batch and time", {"lstm_layer": edit(
        "T, B, _ = x.shape", "B, T, _ = x.shape",
        "lstm_cell(x[t], state", "lstm_cell(x[:, t], state")},
            lose=("lstm_layer",), feedback=("batch and time",)),
    Variant("layer does not carry the state", {"lstm_layer": edit(
        "state = lstm_cell(x[t], state, W_ih, W_hh, b_ih, b_hh)  # each (B, H)\n        outputs.append(state[0])",
        "h, c = lstm_cell(x[t], state, W_ih, W_hh, b_ih, b_hh)  # each (B, H)\n        outputs.append(h)",
        "return torch.stack(outputs), state", "return torch.stack(outputs), (h, c)")},
            lose=("lstm_layer",), feedback=("carry the state",)),
    Variant("layer zeros without dtype", {"lstm_layer": edit(
        "state = (x.new_zeros(B, H), x.new_zeros(B, H))", "state = (torch.zeros(B, H), torch.zeros(B, H))")},
            lose=("lstm_layer",)),
    Variant("layer returns the initial state", {"lstm_layer": edit(
        "T, B, _ = x.shape", "T, B, _ = x.shape\n    initial = state",
        "return torch.stack(outputs), state", "return torch.stack(outputs), initial or state")},
            lose=("lstm_layer",), feedback=("h_n must be the h of the last step",)),
    Variant("layer calls nn.LSTM", {"lstm_layer": code("""
        def lstm_layer(x, state, W_ih, W_hh, b_ih, b_hh):
            lstm = nn.LSTM(x.shape[2], W_hh.shape[1], dtype=x.dtype, device=x.device)
            with torch.no_grad():
                for p, w in zip(lstm.parameters(), (W_ih, W_hh, b_ih, b_hh)):
                    p.copy_(w)
            out, (h, c) = lstm(x, None if state is None else (state[0][None], state[1][None]))
            return out, (h[0], c[0])
        """)}, lose=("lstm_layer",), feedback=("called PyTorch's LSTM",)),
    Variant("forget bias in the input gate's rows", {"init_forget_bias": edit(
        "b_ih[H:2 * H] = value\n                b_hh[H:2 * H] = 0.0", "b_ih[:H] = value\n                b_hh[:H] = 0.0")},
            lose=("init_forget_bias",), feedback=("check the gate order i, f, g, o",)),
    Variant("forget bias ignores bias_hh", {"init_forget_bias": edit("\n                b_hh[H:2 * H] = 0.0", "")},
            lose=("init_forget_bias",), feedback=("PyTorch adds bias_hh",)),
    Variant("forget bias of the first layer only", {"init_forget_bias": code("""
        def init_forget_bias(module, value=1.0):
            H = module.hidden_size
            with torch.no_grad():
                module.bias_ih_l0[H:2 * H] = value
                module.bias_hh_l0[H:2 * H] = 0.0
        """)}, lose=("init_forget_bias",)),
    Variant("forget bias replaces the parameters", {"init_forget_bias": code("""
        def init_forget_bias(module, value=1.0):
            for name, p in list(module.named_parameters()):
                if name.startswith("bias_"):
                    H = p.shape[0] // 4
                    new = p.detach().clone()
                    new[H:2 * H] = value if name.startswith("bias_ih") else 0.0
                    setattr(module, name, nn.Parameter(new))
        """)}, lose=("init_forget_bias",), feedback=("in place",)),
    # --- correct alternatives: full marks
    Variant("fused matmul on [x, h]", {"lstm_cell": edit(
        "gates = x @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh",
        "gates = torch.cat([x, h_prev], dim=1) @ torch.cat([W_ih, W_hh], dim=1).T + (b_ih + b_hh)")}),
    Variant("F.linear and split", {"lstm_cell": code("""
        def lstm_cell(x, state, W_ih, W_hh, b_ih, b_hh):
            h_prev, c_prev = state
            H = h_prev.shape[1]
            z = F.linear(x, W_ih, b_ih) + F.linear(h_prev, W_hh, b_hh)
            zi, zf, zg, zo = torch.split(z, H, dim=1)
            c = torch.sigmoid(zf) * c_prev + torch.sigmoid(zi) * torch.tanh(zg)
            return torch.sigmoid(zo) * torch.tanh(c), c
        """)}),
    Variant("one matmul per gate, sliced weights", {"lstm_cell": code("""
        def lstm_cell(x, state, W_ih, W_hh, b_ih, b_hh):
            h_prev, c_prev = state
            H = W_hh.shape[1]
            def pre(k):
                rows = slice(k * H, (k + 1) * H)
                return x @ W_ih[rows].t() + h_prev @ W_hh[rows].t() + b_ih[rows] + b_hh[rows]
            i, f, g, o = pre(0).sigmoid(), pre(1).sigmoid(), pre(2).tanh(), pre(3).sigmoid()
            c = f * c_prev + i * g
            h = o * c.tanh()
            return h, c
        """)}),
    Variant("cell updates its own new tensor in place", {"lstm_cell": edit(
        "c = f * c_prev + i * g  # (B, H)", "c = f * c_prev  # (B, H), a new tensor\n    c += i * g")}),
    Variant("layer inlines the cell, preallocated output", {"lstm_layer": code("""
        def lstm_layer(x, state, W_ih, W_hh, b_ih, b_hh):
            T, B, _ = x.shape
            H = W_hh.shape[1]
            h, c = state if state is not None else (x.new_zeros(B, H),) * 2
            xs = x @ W_ih.T + b_ih  # (T, B, 4H): the input part for all steps at once
            outs = []
            for x_t in xs:
                i, f, g, o = (x_t + h @ W_hh.T + b_hh).chunk(4, 1)
                c = f.sigmoid() * c + i.sigmoid() * g.tanh()
                h = o.sigmoid() * c.tanh()
                outs.append(h)
            return torch.stack(outs, 0), (h, c)
        """)}),
    Variant("forget bias split between the two biases", {"init_forget_bias": code("""
        def init_forget_bias(module, value=1.0):
            for name in [n for n, _ in module.named_parameters() if n.startswith("bias_")]:
                b = getattr(module, name)
                H = b.shape[0] // 4
                b.data[H:2 * H] = value / 2
        """)}),
]

# ------------------------------------------------------------------------------------------ detaching

DETACHING = [
    Variant("solution"),
    Variant("untouched", untouched=True),
    Variant("see it work raises", after_tests=("del train_tbptt  # the see-it-work cell calls it",)),
    # --- wrong but plausible
    Variant("detach only h", {"detach_state": code("""
        def detach_state(state):
            if state is None:
                return None
            if isinstance(state, torch.Tensor):
                return state.detach()
            h, c = state
            return (h.detach(), c)
        """)}, lose=("detach_state",), feedback=("c was not detached",)),
    Variant("detach returns a list", {"detach_state": edit(
        "return type(state)(detach_state(s) for s in state)", "return [detach_state(s) for s in state]")},
            lose=("detach_state",), feedback=("must come back as a tuple",)),
    Variant("detach in place", {"detach_state": edit("return state.detach()", "return state.detach_()")},
            lose=("detach_state",), feedback=("detach_()",)),
    Variant("batchify transposed", {"batchify": edit(
        "tokens[:batch_size * L].reshape(batch_size, L)", "tokens[:batch_size * L].reshape(L, batch_size).T")},
            lose=("batchify",), feedback=("contiguous slice",)),
    Variant("batchify without errors", {"batchify": code("""
        def batchify(tokens, batch_size):
            L = len(tokens) // batch_size
            return tokens[:batch_size * L].view(batch_size, L)
        """)}, lose=("batchify",), feedback=("must raise ValueError",)),
    Variant("tbptt never detaches", {"train_tbptt": edit(
        "        state = detach_state(state)  # gradients stop at the chunk boundary; the values carry on\n", "")},
            lose=("train_tbptt",), feedback=("the state was not detached", "gradients flowed into the previous chunk")),
    Variant("tbptt retain_graph instead of detaching", {"train_tbptt": edit(
        "        state = detach_state(state)  # gradients stop at the chunk boundary; the values carry on\n", "",
        "loss.backward()", "loss.backward(retain_graph=True)")},
            lose=("train_tbptt",), feedback=("the state was not detached", "retain_graph=True is not a fix")),
    Variant("tbptt detaches only h", {"train_tbptt": edit(
        "state = detach_state(state)", "state = None if state is None else (state[0].detach(), state[1])")},
            lose=("train_tbptt",), feedback=("c still had a grad_fn",)),
    Variant("tbptt resets the state", {"train_tbptt": edit(
        "state = detach_state(state)", "state = None")},
            lose=("train_tbptt",), feedback=("carry the state returned by the previous chunk",)),
    Variant("tbptt plain mean of chunk losses", {"train_tbptt": edit(
        "total_loss += loss.item() * y.numel()", "total_loss += loss.item()",
        "total_tokens += y.numel()", "total_tokens += 1")},
            lose=("train_tbptt",), feedback=("token-weighted mean",)),
    Variant("tbptt never zeros the gradients", {"train_tbptt": edit("optimizer.zero_grad()\n        ", "")},
            lose=("train_tbptt",), feedback=("zero the gradients",)),
    Variant("tbptt clips each value", {"train_tbptt": edit(
        "torch.nn.utils.clip_grad_norm_(model.parameters(), clip)",
        "torch.nn.utils.clip_grad_value_(model.parameters(), clip)")},
            lose=("train_tbptt",), feedback=("clip_grad_norm_",)),
    Variant("tbptt clips before backward", {"train_tbptt": edit(
        "        loss.backward()\n        if clip is not None:\n            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)\n",
        "        if clip is not None:\n            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)\n        loss.backward()\n")},
            lose=("train_tbptt",), feedback=("after backward() and before step()",)),
    Variant("tbptt slices the batch dimension", {"train_tbptt": edit(
        "x, y = streams[:, i:i + n], streams[:, i + 1:i + 1 + n]", "x, y = streams[i:i + n], streams[i + 1:i + 1 + n]")},
            lose=("train_tbptt",), feedback=("time is the second dimension",)),
    Variant("tbptt returns a tensor", {"train_tbptt": edit(
        "total_loss += loss.item() * y.numel()", "total_loss += loss * y.numel()")},
            lose=("train_tbptt",), feedback=("Python float",)),
    # --- correct alternatives
    Variant("detach with a comprehension", {"detach_state": code("""
        def detach_state(state):
            if state is None or torch.is_tensor(state):
                return None if state is None else state.detach()
            return type(state)([s.detach() if torch.is_tensor(s) else detach_state(s) for s in state])
        """)}),
    Variant("batchify by stacking slices", {"batchify": code("""
        def batchify(tokens, batch_size):
            if batch_size < 1 or len(tokens) // batch_size < 2:
                raise ValueError("expected batch_size >= 1 and at least 2 tokens per row")
            L = len(tokens) // batch_size
            return torch.stack([tokens[b * L:(b + 1) * L] for b in range(batch_size)])
        """)}),
    Variant("tbptt while loop, summed loss, inline detach", {"train_tbptt": code("""
        def train_tbptt(model, streams, bptt, optimizer, clip=None):
            L = streams.shape[1]
            state, i, nats, count = None, 0, 0.0, 0
            while i < L - 1:
                n = min(bptt, L - 1 - i)
                x, y = streams[:, i:i + n], streams[:, i + 1:i + 1 + n]
                if state is not None:
                    state = tuple(s.detach() for s in state)
                logits, state = model(x, state)
                loss_sum = F.cross_entropy(logits.transpose(1, 2), y, reduction="sum")
                loss = loss_sum / y.numel()
                model.zero_grad(set_to_none=True)
                loss.backward()
                if clip is not None:
                    grads = [p.grad for p in model.parameters() if p.grad is not None]
                    norm = torch.sqrt(sum((g ** 2).sum() for g in grads))
                    scale = torch.clamp(clip / (norm + 1e-6), max=1.0)
                    for g in grads:
                        g.mul_(scale)
                optimizer.step()
                nats += loss_sum.item()
                count += y.numel()
                i += bptt
            return nats / count
        """)}),
]

# ---------------------------------------------------------------------------------------- temperature

TEMPERATURE = [
    Variant("solution"),
    Variant("untouched", untouched=True),
    Variant("see it work raises", after_tests=("del generate  # the see-it-work cell calls it",)),
    # --- wrong but plausible
    Variant("multiplies by the temperature", {"sample_next": edit(
        "logits = logits / temperature  # (..., V)", "logits = logits * temperature  # (..., V)")},
            lose=("sample_next",), feedback=("multiplied by the temperature",)),
    Variant("temperature after the softmax", {"sample_next": edit(
        "logits = logits / temperature  # (..., V)", "",
        "probs = torch.softmax(logits, dim=-1)  # (..., V)",
        "probs = torch.softmax(logits, dim=-1) / temperature\n    probs = probs / probs.sum(-1, keepdim=True)")},
            lose=("sample_next",), feedback=("after the softmax",)),
    Variant("top-p drops the crossing token", {"sample_next": edit(
        "drop_sorted = mass_above >= top_p", "drop_sorted = sorted_probs.cumsum(dim=-1) > top_p")},
            lose=("sample_next",), feedback=("crosses the threshold was dropped",)),
    Variant("top-p before the temperature", {"sample_next": code("""
        def sample_next(logits, temperature=1.0, top_k=None, top_p=None, generator=None):
            if not (math.isfinite(temperature) and temperature >= 0):
                raise ValueError("bad temperature")
            if (top_k is not None and top_k < 1) or (top_p is not None and not 0 < top_p <= 1):
                raise ValueError("bad top_k or top_p")
            if temperature == 0:
                return logits.argmax(-1)
            if top_k is not None:
                kth = logits.topk(min(top_k, logits.shape[-1]), dim=-1).values[..., -1:]
                logits = logits.masked_fill(logits < kth, float("-inf"))
            if top_p is not None:
                p = torch.softmax(logits, -1)
                sp, order = p.sort(-1, descending=True)
                drop = torch.zeros_like(sp, dtype=torch.bool).scatter(-1, order, sp.cumsum(-1) - sp >= top_p)
                logits = logits.masked_fill(drop, float("-inf"))
            probs = torch.softmax(logits / temperature, -1)
            return torch.multinomial(probs.reshape(-1, probs.shape[-1]), 1, generator=generator).reshape(probs.shape[:-1])
        """)}, lose=("sample_next",), feedback=("top-p was applied before the temperature",)),
    Variant("top-k drops ties", {"sample_next": edit(
        "kth = logits.topk(min(top_k, logits.shape[-1]), dim=-1).values[..., -1:]  # (..., 1) the k-th largest\n"
        "        logits = logits.masked_fill(logits < kth, float(\"-inf\"))  # ties with the k-th value stay",
        "idx = logits.topk(min(top_k, logits.shape[-1]), dim=-1).indices\n"
        "        keep = torch.zeros_like(logits, dtype=torch.bool).scatter(-1, idx, True)\n"
        "        logits = logits.masked_fill(~keep, float(\"-inf\"))")},
            lose=("sample_next",), feedback=("ties at the k-th value must be kept",)),
    Variant("top-k masks with zero", {"sample_next": edit(
        "logits = logits.masked_fill(logits < kth, float(\"-inf\"))", "logits = logits.masked_fill(logits < kth, 0.0)")},
            lose=("sample_next",), feedback=("top_k=2",)),
    Variant("sampler ignores the generator", {"sample_next": edit(
        "torch.multinomial(flat, 1, generator=generator)", "torch.multinomial(flat, 1)")},
            lose=("sample_next",), feedback=("pass generator=generator",)),
    Variant("sampler without argument checks", {"sample_next": edit(
        "    if not (math.isfinite(temperature) and temperature >= 0):\n", "    if False:\n",
        "    if top_k is not None and top_k < 1:\n", "    if False:\n",
        "    if top_p is not None and not 0 < top_p <= 1:\n", "    if False:\n")},
            lose=("sample_next",), feedback=("must raise ValueError",)),
    Variant("top-p on the probabilities before top-k", {"sample_next": edit(
        "    logits = logits / temperature  # (..., V)\n",
        "    logits = logits / temperature  # (..., V)\n    unfiltered = torch.softmax(logits, dim=-1)\n",
        "sorted_probs, order = probs.sort(", "sorted_probs, order = unfiltered.sort(")},
            lose=("sample_next",), feedback=("top-p was computed on the probabilities before top-k",)),
    Variant("top-k larger than V raises", {"sample_next": edit(
        "logits.topk(min(top_k, logits.shape[-1]), dim=-1)", "logits.topk(top_k, dim=-1)")},
            lose=("sample_next",), feedback=("keeps every token",)),
    Variant("sampler divides the logits in place", {"sample_next": edit(
        "logits = logits / temperature  # (..., V)", "logits /= temperature  # (..., V)")},
            lose=("sample_next",), feedback=("changed the caller's logits in place",)),
    Variant("temperature 0 divides by zero", {"sample_next": edit(
        "    if temperature == 0:\n        return logits.argmax(dim=-1)\n", "")},
            lose=("sample_next",)),
    Variant("generate re-feeds the prefix", {"generate": code("""
        def generate(model, prompt, length, temperature=1.0, top_k=None, top_p=None, generator=None):
            device = next(model.parameters()).device
            seq = torch.as_tensor(prompt, dtype=torch.long, device=device)
            if seq.numel() == 0:
                raise ValueError("empty prompt")
            P = len(seq)
            with torch.no_grad():
                for _ in range(length):
                    logits, _ = model(seq[None], None)
                    seq = torch.cat([seq, sample_next(logits[0, -1], temperature, top_k, top_p, generator)[None]])
            return seq[P:]
        """)}, lose=("generate",), feedback=("never the whole prefix again",)),
    Variant("generate drops the state", {"generate": edit(
        "logits, state = model(token.reshape(1, 1), state)", "logits, state = model(token.reshape(1, 1), None)")},
            lose=("generate",), feedback=("carry the state",)),
    Variant("generate ignores the generator", {"generate": edit(
        "sample_next(logits[0, -1], temperature, top_k, top_p, generator)",
        "sample_next(logits[0, -1], temperature, top_k, top_p)")},
            lose=("generate",), feedback=("pass generator on",)),
    Variant("generate ignores top-k and top-p", {"generate": edit(
        "sample_next(logits[0, -1], temperature, top_k, top_p, generator)",
        "sample_next(logits[0, -1], temperature, generator=generator)")},
            lose=("generate",), feedback=("pass top_k",)),
    Variant("generate builds a graph", {"generate": edit(
        "    with torch.no_grad():\n", "    if True:\n")},
            lose=("generate",), feedback=("torch.no_grad()",)),
    Variant("generate returns the prompt too", {"generate": edit(
        "return torch.stack(new) if new else", "return torch.cat([prompt, torch.stack(new)]) if new else")},
            lose=("generate",), feedback=("leave the prompt out",)),
    # --- correct alternatives
    Variant("Gumbel-max sampling", {"sample_next": edit(
        "    flat = probs.reshape(-1, probs.shape[-1])  # (B, V); multinomial renormalises each row\n"
        "    return torch.multinomial(flat, 1, generator=generator).reshape(probs.shape[:-1])",
        "    u = torch.rand(probs.shape, generator=generator, device=probs.device, dtype=torch.float64)\n"
        "    gumbel = -torch.log(-torch.log(u.clamp(1e-300, 1 - 1e-16)))\n"
        "    return (probs.double().log() + gumbel).argmax(dim=-1)")}),
    Variant("inverse-CDF sampling", {"sample_next": edit(
        "    flat = probs.reshape(-1, probs.shape[-1])  # (B, V); multinomial renormalises each row\n"
        "    return torch.multinomial(flat, 1, generator=generator).reshape(probs.shape[:-1])",
        "    cdf = probs.double().cumsum(-1)  # (..., V)\n"
        "    u = 1 - torch.rand(probs.shape[:-1] + (1,), generator=generator, device=probs.device, dtype=torch.float64)\n"
        "    return torch.searchsorted(cdf, u * cdf[..., -1:]).squeeze(-1).clamp(max=probs.shape[-1] - 1)")}),
    Variant("probs to the power 1 over T", {"sample_next": edit(
        "    logits = logits / temperature  # (..., V)\n", "",
        "    probs = torch.softmax(logits, dim=-1)  # (..., V)",
        "    probs = torch.softmax(logits, dim=-1) ** (1 / temperature)\n    probs = probs / probs.sum(-1, keepdim=True)")}),
    Variant("top-k on probabilities, renormalised before top-p", {"sample_next": code("""
        def sample_next(logits, temperature=1.0, top_k=None, top_p=None, generator=None):
            if not (math.isfinite(temperature) and temperature >= 0):
                raise ValueError(f"expected a finite temperature >= 0, got {temperature}")
            if top_k is not None and top_k < 1:
                raise ValueError(f"expected top_k >= 1, got {top_k}")
            if top_p is not None and not 0 < top_p <= 1:
                raise ValueError(f"expected top_p in (0, 1], got {top_p}")
            if temperature == 0:
                return logits.argmax(dim=-1)
            probs = torch.softmax(logits.double() / temperature, dim=-1)
            V = probs.shape[-1]
            if top_k is not None and top_k < V:
                kth = probs.sort(dim=-1, descending=True).values[..., top_k - 1:top_k]
                probs = torch.where(probs >= kth, probs, torch.zeros_like(probs))
                probs = probs / probs.sum(-1, keepdim=True)
            if top_p is not None:
                s, order = probs.sort(dim=-1, descending=True)
                keep_sorted = s.cumsum(-1) - s < top_p
                keep = torch.empty_like(keep_sorted).scatter_(-1, order, keep_sorted)
                probs = probs * keep
            flat = probs.reshape(-1, V)
            return torch.multinomial(flat, 1, generator=generator).reshape(probs.shape[:-1])
        """)}),
    Variant("top-k before the temperature", {"sample_next": edit(
        "    logits = logits / temperature  # (..., V)\n", "",
        "    probs = torch.softmax(logits, dim=-1)  # (..., V)", "    probs = torch.softmax(logits / temperature, dim=-1)")}),
    Variant("generate with inference_mode and a list", {"generate": code("""
        def generate(model, prompt, length, temperature=1.0, top_k=None, top_p=None, generator=None):
            if len(prompt) == 0:
                raise ValueError("expected a non-empty prompt")
            device = next(model.parameters()).device
            ids = []
            with torch.inference_mode():
                logits, state = model(torch.tensor([list(map(int, prompt))], device=device), None)
                while len(ids) < length:
                    ids.append(int(sample_next(logits[:, -1], temperature, top_k, top_p, generator)))
                    logits, state = model(torch.tensor([[ids[-1]]], device=device), state)
            return torch.tensor(ids, dtype=torch.long, device=device)
        """)}),
]


# ------------------------------------------------------------------------------------------- backward

BACKWARD = [
    Variant("solution"),
    Variant("untouched", untouched=True),
    # --- wrong but plausible: lstm_step_backward
    Variant("dc_prev without f", {"lstm_step_backward": edit("dc_prev = dc_tot * f  #", "dc_prev = dc_tot  #")},
            lose=("lstm_step_backward",), feedback=("did you multiply by f?",)),
    Variant("dc without o", {"lstm_step_backward": edit("dc + dh * o * (1.0 - tanh_c ** 2)", "dc + dh * (1.0 - tanh_c ** 2)")},
            lose=("lstm_step_backward",), feedback=("through dc AND through h",)),
    Variant("dc without tanh prime", {"lstm_step_backward": edit("dc + dh * o * (1.0 - tanh_c ** 2)", "dc + dh * o")},
            lose=("lstm_step_backward",), feedback=("through dc AND through h",)),
    Variant("dc from h only", {"lstm_step_backward": edit("dc + dh * o * (1.0 - tanh_c ** 2)", "dh * o * (1.0 - tanh_c ** 2)")},
            lose=("lstm_step_backward",), feedback=("through dc AND through h",)),
    Variant("tanh of c_prev", {"lstm_step_backward": edit("cache.o, cache.tanh_c", "cache.o, np.tanh(cache.c_prev)")},
            lose=("lstm_step_backward",), feedback=("NEW cell state",)),
    Variant("output gate derivative sign", {"lstm_step_backward": edit("do * o * (1.0 - o)", "do * o * (o - 1.0)")},
            lose=("lstm_step_backward",), feedback=("only the output gate's rows are wrong",)),
    Variant("gates stacked i, f, o, g", {"lstm_step_backward": edit(
        "dg * (1.0 - g ** 2), do * o * (1.0 - o)]", "do * o * (1.0 - o), dg * (1.0 - g ** 2)]")},
            lose=("lstm_step_backward",), feedback=("stacked in the wrong order",)),
    Variant("weight gradient transposed", {"lstm_step_backward": edit("dW_ih=da.T @ cache.x", "dW_ih=cache.x.T @ da")},
            lose=("lstm_step_backward",), feedback=("transposed?",)),
    Variant("db not summed over the batch", {"lstm_step_backward": edit("db=da.sum(axis=0)", "db=da")},
            lose=("lstm_step_backward",), feedback=("sum da over the rows of the batch",)),
    Variant("dc updated in place", {"lstm_step_backward": edit(
        "dc_tot = dc + dh * o * (1.0 - tanh_c ** 2)", "dc_tot = dc\n    dc_tot += dh * o * (1.0 - tanh_c ** 2)")},
            lose=("lstm_step_backward",), feedback=("modified its input dc in place",)),
    Variant("dh of the wrong shape accepted", {"lstm_step_backward": edit(
        "        if not isinstance(grad, np.ndarray) or grad.shape != cache.h_prev.shape:\n",
        "        if not isinstance(grad, np.ndarray):\n")},
            lose=("lstm_step_backward",), feedback=("must raise ValueError",)),
    # --- wrong but plausible: lstm_backward
    Variant("BPTT forgets dh from the next step", {"lstm_backward": edit(
        "lstm_step_backward(dhs[t] + dh_next, dc,", "lstm_step_backward(dhs[t], dc,")},
            lose=("lstm_backward",), feedback=("goes back from step t+1 to step t?",)),
    Variant("BPTT drops dc between steps", {"lstm_backward": edit(
        "dh_next, dc = grads.dh_prev, grads.dc_prev", "dh_next = grads.dh_prev")},
            lose=("lstm_backward",), feedback=("goes back from step t+1 to step t?",)),
    Variant("BPTT ignores dc_T", {"lstm_backward": edit(
        "dc = np.zeros((B, H), dtype=dhs.dtype) if dc_T is None else dc_T", "dc = np.zeros((B, H), dtype=dhs.dtype)")},
            lose=("lstm_backward",), feedback=("a loss without c_T",)),
    Variant("BPTT keeps the last weight gradients", {"lstm_backward": edit(
        "dW_ih += grads.dW_ih", "dW_ih = grads.dW_ih", "dW_hh += grads.dW_hh", "dW_hh = grads.dW_hh",
        "db += grads.db", "db = grads.db")},
            lose=("lstm_backward",), feedback=("the sum (+=) of every step's",)),
    Variant("BPTT runs forward in time", {"lstm_backward": edit("for t in reversed(range(T)):", "for t in range(T):")},
            lose=("lstm_backward",), feedback=("BPTT starts at the last step",)),
    Variant("BPTT without the shape check", {"lstm_backward": edit(
        "    if not isinstance(dhs, np.ndarray) or dhs.shape != (T, B, H):\n", "    if False:\n")},
            lose=("lstm_backward",), feedback=("should raise ValueError",)),
    # --- correct alternatives: full marks
    Variant("step with einsum and the gate blocks one by one", {"lstm_step_backward": code('''
        def lstm_step_backward(dh, dc, cache, W_ih, W_hh):
            if np.shape(dh) != cache.h_prev.shape or np.shape(dc) != cache.h_prev.shape:
                raise ValueError(f"expected dh and dc of shape (B, H) = {cache.h_prev.shape}, got {np.shape(dh)}, {np.shape(dc)}")
            tanh_c = np.tanh(cache.c)  # recomputed instead of read from the cache
            d_o = dh * tanh_c
            d_c = dh * cache.o * (1 - tanh_c) * (1 + tanh_c) + dc
            blocks = {
                "i": d_c * cache.g * cache.i * (1 - cache.i),
                "f": d_c * cache.c_prev * cache.f * (1 - cache.f),
                "g": d_c * cache.i * (1 - cache.g * cache.g),
                "o": d_o * cache.o * (1 - cache.o),
            }
            da = np.hstack([blocks[k] for k in "ifgo"])
            return StepGrads(dx=np.einsum("bk,ki->bi", da, W_ih), dh_prev=np.einsum("bk,kh->bh", da, W_hh),
                             dc_prev=cache.f * d_c, dW_ih=np.einsum("bk,bi->ki", da, cache.x),
                             dW_hh=np.einsum("bk,bh->kh", da, cache.h_prev), db=np.einsum("bk->k", da))
        ''')}),
    Variant("step with one derivative vector for all gates", {"lstm_step_backward": code('''
        def lstm_step_backward(dh, dc, cache, W_ih, W_hh):
            for name, v in (("dh", dh), ("dc", dc)):
                if v.shape != cache.h_prev.shape:
                    raise ValueError(f"expected {name} of shape {cache.h_prev.shape}, got {v.shape}")
            i, f, g, o = cache.i, cache.f, cache.g, cache.o
            total_c = dc + dh * o * (1 - cache.tanh_c ** 2)
            upstream = np.concatenate([total_c * g, total_c * cache.c_prev, total_c * i, dh * cache.tanh_c], axis=1)
            local = np.concatenate([i * (1 - i), f * (1 - f), 1 - g ** 2, o * (1 - o)], axis=1)
            da = upstream * local  # (B, 4H)
            dW_ih = sum(np.outer(da[k], cache.x[k]) for k in range(da.shape[0]))
            dW_hh = sum(np.outer(da[k], cache.h_prev[k]) for k in range(da.shape[0]))
            return StepGrads(dx=da @ W_ih, dh_prev=da @ W_hh, dc_prev=total_c * f, dW_ih=dW_ih, dW_hh=dW_hh,
                             db=da.sum(axis=0))
        ''')}),
    Variant("BPTT collecting the steps and summing at the end", {"lstm_backward": code('''
        def lstm_backward(dhs, caches, W_ih, W_hh, dc_T=None):
            if not caches or dhs.shape != (len(caches),) + caches[0].h_prev.shape:
                raise ValueError(f"expected dhs of shape (T, B, H) with T = {len(caches)}, got {dhs.shape}")
            dh = np.zeros_like(dhs[0])
            dc = np.zeros_like(dhs[0]) if dc_T is None else dc_T.copy()
            steps = []
            for t in range(len(caches) - 1, -1, -1):
                s = lstm_step_backward(dhs[t] + dh, dc, caches[t], W_ih, W_hh)
                steps.append(s)
                dh, dc = s.dh_prev, s.dc_prev
            steps.reverse()  # time order again
            return SequenceGrads(dx=np.stack([s.dx for s in steps]), dh0=dh, dc0=dc,
                                 dW_ih=np.sum([s.dW_ih for s in steps], axis=0),
                                 dW_hh=np.sum([s.dW_hh for s in steps], axis=0),
                                 db=np.sum([s.db for s in steps], axis=0))
        ''')}),
]
