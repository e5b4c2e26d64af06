"""An honest class: correct answers to the four graded notebooks, each written in another ordinary Python style.

Every variant here is a submission a real student could hand in: a correct implementation of every function (the
instructor's solution where the variant changes nothing), written with module-level state, debug output to either
stream, helper classes, dataclasses, namespaces, named tuples, ``vars()`` of an object, TorchScript (scripted and
traced helpers), activation functions looked up by name over a literal list, recursion, NumPy, a self-check against
PyTorch beside the answer, ``functools``, ``itertools``, ``math``, type hints, ``assert`` for invariants, a helper in a
cell the student added, or a ``try``/``except`` fallback. Each satisfies its notebook's whole contract (errors,
dtypes, devices, inputs left unchanged, return types), and each must get full marks with no ``TAMPER`` finding
(``tests/test_grading_honest.py`` grades them for real).

Names at module level are chosen so that no test cell of the notebook reassigns them (the test cells define many
short names: ``x``, ``H``, ``_chunks``, ...): a student whose helper a test cell overwrote would see the visible test
fail and rename it.
"""
from __future__ import annotations

import textwrap
from dataclasses import dataclass

import nbformat

from grading_variants import Variant, answer, code, edit


@dataclass(frozen=True)
class Honest(Variant):
    """A full-marks variant; ``added`` are cells the student inserted: (``"before"`` or ``"after"``, the answer cell's
    grade_id, source)."""
    added: tuple[tuple[str, str, str], ...] = ()


def with_checks(block: str, text: str) -> str:
    """``code(text)`` with its ``<<checks>>`` line replaced by ``block`` (argument checks several variants share)."""
    src = code(text)
    line = next(line for line in src.splitlines() if line.strip() == "<<checks>>")
    return src.replace(line + "\n", textwrap.indent(block, line[:len(line) - len(line.lstrip())]))


def submission(released: nbformat.NotebookNode, answers: dict[str, str], variant: Variant) -> nbformat.NotebookNode:
    """The released notebook answered as ``variant`` says (the solution in every cell it does not change)."""
    nb = nbformat.from_dict(nbformat.reads(nbformat.writes(released), as_version=4))
    answer(nb, answers, variant.changes, variant.name)
    for where, gid, source in getattr(variant, "added", ()):
        at = next(k for k, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == gid)
        nb.cells.insert(at + (where == "after"), nbformat.v4.new_code_cell(source))
    return nb


# ---------------------------------------------------------------------------------------------- gates

GATES = [
    Honest("gates: module-level call counter updated with global", {"lstm_cell": code("""
        LSTM_CELL_CALLS = 0  # how often my cell ran: handy when I debug the layer


        def lstm_cell(x, state, W_ih, W_hh, b_ih, b_hh):
            global LSTM_CELL_CALLS
            LSTM_CELL_CALLS += 1
            h_prev, c_prev = state
            z = x @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh  # (B, 4H)
            z_i, z_f, z_g, z_o = z.chunk(4, dim=1)
            c = torch.sigmoid(z_f) * c_prev + torch.sigmoid(z_i) * torch.tanh(z_g)
            h = torch.sigmoid(z_o) * torch.tanh(c)
            return h, c
        """)}),
    Honest("gates: dataclass of the gates read back with vars()", {"lstm_cell": code("""
        from dataclasses import dataclass


        @dataclass
        class GatePreactivations:
            \"\"\"The four gates before their nonlinearity, each (B, H).\"\"\"
            i: torch.Tensor
            f: torch.Tensor
            g: torch.Tensor
            o: torch.Tensor


        NONLINEARITY = {"i": torch.sigmoid, "f": torch.sigmoid, "g": torch.tanh, "o": torch.sigmoid}


        def lstm_cell(x, state, W_ih, W_hh, b_ih, b_hh):
            h_prev, c_prev = state
            pre = GatePreactivations(*(x @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh).chunk(4, dim=1))
            gate = {name: NONLINEARITY[name](value) for name, value in vars(pre).items()}
            c = gate["f"] * c_prev + gate["i"] * gate["g"]
            h = gate["o"] * torch.tanh(c)
            return h, c
        """)}),
    Honest("gates: pointwise part in a torch.jit.script helper", {"lstm_cell": code("""
        from typing import Tuple


        @torch.jit.script
        def cell_pointwise(z: torch.Tensor, c_prev: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
            \"\"\"Pre-activations (B, 4H), stacked i, f, g, o, and c_prev (B, H) -> (h, c); compiled by TorchScript.\"\"\"
            z_i, z_f, z_g, z_o = z.chunk(4, 1)
            c = torch.sigmoid(z_f) * c_prev + torch.sigmoid(z_i) * torch.tanh(z_g)
            h = torch.sigmoid(z_o) * torch.tanh(c)
            return h, c


        def lstm_cell(x, state, W_ih, W_hh, b_ih, b_hh):
            h_prev, c_prev = state
            return cell_pointwise(x @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh, c_prev)
        """)}),
    Honest("gates: activations in a torch.jit.trace helper", {"lstm_cell": code("""
        def gate_activations(z):
            z_i, z_f, z_g, z_o = z.chunk(4, dim=1)
            return torch.sigmoid(z_i), torch.sigmoid(z_f), torch.tanh(z_g), torch.sigmoid(z_o)


        # traced once on a small example: the same four ops run for every size, dtype and device
        traced_activations = torch.jit.trace(gate_activations, torch.zeros(2, 8))


        def lstm_cell(x, state, W_ih, W_hh, b_ih, b_hh):
            h_prev, c_prev = state
            i, f, g, o = traced_activations(x @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh)
            c = f * c_prev + i * g
            return o * torch.tanh(c), c
        """)}),
    Honest("gates: activations looked up by name over a literal list", {"lstm_cell": code("""
        ACTIVATION = {}
        for act_name in ("sigmoid", "tanh"):
            ACTIVATION[act_name] = getattr(torch, act_name)


        def lstm_cell(x, state, W_ih, W_hh, b_ih, b_hh):
            sigma, tanh = ACTIVATION["sigmoid"], ACTIVATION["tanh"]
            h_prev, c_prev = state
            i, f, g, o = (x @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh).chunk(4, dim=1)
            c = sigma(f) * c_prev + sigma(i) * tanh(g)
            return sigma(o) * tanh(c), c
        """)}),
    Honest("gates: self-check against PyTorch's cell written beside the answer, never called", {"lstm_cell": code("""
        def lstm_cell(x, state, W_ih, W_hh, b_ih, b_hh):
            h_prev, c_prev = state
            z = F.linear(x, W_ih, b_ih) + F.linear(h_prev, W_hh, b_hh)  # (B, 4H)
            H = z.shape[1] // 4
            i, f = torch.sigmoid(z[:, :H]), torch.sigmoid(z[:, H:2 * H])
            g, o = torch.tanh(z[:, 2 * H:3 * H]), torch.sigmoid(z[:, 3 * H:])
            c = f * c_prev + i * g
            return o * torch.tanh(c), c


        def my_cell_agrees_with_pytorch(B=2, I=3, H=4):
            \"\"\"I ran this by hand while working: does my cell give torch.lstm_cell's numbers?\"\"\"
            shapes = ((B, I), (B, H), (B, H), (4 * H, I), (4 * H, H), (4 * H,), (4 * H,))
            x, h0, c0, *weights = (torch.randn(*s, dtype=torch.float64) for s in shapes)
            mine = lstm_cell(x, (h0, c0), *weights)
            theirs = torch.lstm_cell(x, (h0, c0), *weights)
            return all(torch.allclose(a, b) for a, b in zip(mine, theirs))
        """)}),
    Honest("gates: self-check against nn.LSTMCell in a cell the student added", added=(("after", "lstm_cell", code("""
        # My own check: my lstm_cell against nn.LSTMCell with the same random weights, in float64.
        def compare_with_lstmcell(B=3, I=5, H=4, seed=0):
            torch.manual_seed(seed)
            reference = nn.LSTMCell(I, H, dtype=torch.float64)
            inp = torch.randn(B, I, dtype=torch.float64)
            h_start, c_start = torch.randn(B, H, dtype=torch.float64), torch.randn(B, H, dtype=torch.float64)
            with torch.no_grad():
                want_h, want_c = reference(inp, (h_start, c_start))
                got_h, got_c = lstm_cell(inp, (h_start, c_start), reference.weight_ih, reference.weight_hh,
                                         reference.bias_ih, reference.bias_hh)
            return max((got_h - want_h).abs().max().item(), (got_c - want_c).abs().max().item())


        print("largest difference from nn.LSTMCell:", compare_with_lstmcell())
        """)),)),
    Honest("gates: layer prints its shapes to stdout", {"lstm_layer": code("""
        def lstm_layer(x, state, W_ih, W_hh, b_ih, b_hh):
            T, B, I = x.shape
            H = W_hh.shape[1]
            print(f"lstm_layer: T={T}, B={B}, I={I}, H={H}, initial state given: {state is not None}")
            if state is None:
                state = (x.new_zeros(B, H), x.new_zeros(B, H))
            hs = []
            for t in range(T):
                state = lstm_cell(x[t], state, W_ih, W_hh, b_ih, b_hh)
                hs.append(state[0])
            outputs = torch.stack(hs)
            print(f"lstm_layer: outputs {tuple(outputs.shape)}")
            return outputs, state
        """)}),
    Honest("gates: layer unrolled by recursion", {"lstm_layer": code("""
        def lstm_layer(x, state, W_ih, W_hh, b_ih, b_hh):
            if state is None:
                zeros = x.new_zeros(x.shape[1], W_hh.shape[1])
                state = (zeros, zeros)

            def unroll(t, state):
                \"\"\"The h of steps t, ..., T-1 and the final state, starting from the state before step t.\"\"\"
                if t == x.shape[0]:
                    return [], state
                h, c = lstm_cell(x[t], state, W_ih, W_hh, b_ih, b_hh)
                later, final = unroll(t + 1, (h, c))
                return [h] + later, final

            hs, final = unroll(0, state)
            return torch.stack(hs), final
        """)}),
    Honest("gates: layer with type hints, an assert and itertools.accumulate", {"lstm_layer": code("""
        from typing import Optional, Tuple

        Pair = Tuple[torch.Tensor, torch.Tensor]


        def lstm_layer(x: torch.Tensor, state: Optional[Pair], W_ih: torch.Tensor, W_hh: torch.Tensor,
                       b_ih: torch.Tensor, b_hh: torch.Tensor) -> Tuple[torch.Tensor, Pair]:
            assert x.dim() == 3, f"x must be (T, B, I), got shape {tuple(x.shape)}"
            B, H = x.shape[1], W_hh.shape[1]
            if state is None:
                state = (x.new_zeros(B, H), x.new_zeros(B, H))
            step = lambda s, x_t: lstm_cell(x_t, s, W_ih, W_hh, b_ih, b_hh)
            states = list(itertools.accumulate(x.unbind(0), step, initial=state))[1:]  # the state after each step
            return torch.stack([h for h, _ in states]), states[-1]
        """)}),
    Honest("gates: forget bias set through NumPy", {"init_forget_bias": code("""
        import numpy as np


        def init_forget_bias(module, value=1.0):
            with torch.no_grad():
                for name, p in module.named_parameters():
                    if not name.startswith("bias_"):
                        continue
                    arr = p.detach().cpu().numpy().copy()  # my own copy, with the parameter's dtype
                    H = arr.shape[0] // 4
                    arr[H:2 * H] = value if name.startswith("bias_ih") else 0.0
                    p.copy_(torch.from_numpy(arr))  # back into the same Parameter, on its device
        """)}),
]

# ------------------------------------------------------------------------------------------ detaching

DETACHING = [
    Honest("detaching: detach with try/except and map", {"detach_state": code("""
        def detach_state(state):
            try:
                return state.detach()  # a tensor
            except AttributeError:
                pass  # None, or a tuple or list of states
            if state is None:
                return None
            return type(state)(map(detach_state, state))
        """)}),
    Honest("detaching: recursive detach with functools.singledispatch", {"detach_state": code("""
        from functools import singledispatch


        @singledispatch
        def detached(state):
            raise TypeError(f"cannot detach a {type(state).__name__}")


        @detached.register
        def _(state: torch.Tensor):
            return state.detach()


        @detached.register(type(None))
        def _(state):
            return None


        @detached.register(tuple)
        @detached.register(list)
        def _(state):
            return type(state)(detached(s) for s in state)


        def detach_state(state):
            return detached(state)
        """)}),
    Honest("detaching: batchify through NumPy", {"batchify": code("""
        import numpy as np


        def batchify(tokens, batch_size):
            if batch_size < 1:
                raise ValueError(f"expected batch_size >= 1, got {batch_size}")
            ids = tokens.cpu().numpy()
            L = len(ids) // batch_size
            if L < 2:
                raise ValueError(f"{len(ids)} tokens are too few for {batch_size} rows of at least 2")
            rows = np.ascontiguousarray(ids[:batch_size * L].reshape(batch_size, L))
            return torch.from_numpy(rows).to(tokens.device)
        """)}),
    Honest("detaching: batchify with type hints and an assert on the result", {"batchify": code("""
        def batchify(tokens: torch.Tensor, batch_size: int) -> torch.Tensor:
            if batch_size < 1:
                raise ValueError(f"batch_size must be at least 1, got {batch_size}")
            n_tokens: int = tokens.numel()
            L: int = n_tokens // batch_size
            if L < 2:
                raise ValueError(f"{n_tokens} tokens in {batch_size} rows leave {L} per row, at least 2 are needed")
            rows = tokens[:batch_size * L].reshape(batch_size, L)
            assert rows.shape == (batch_size, L), rows.shape
            return rows
        """)}),
    Honest("detaching: tbptt logs each chunk to stderr", {"train_tbptt": code("""
        def train_tbptt(model, streams, bptt, optimizer, clip=None):
            L = streams.shape[1]
            state, total, count = None, 0.0, 0
            for k, i in enumerate(range(0, L - 1, bptt)):
                n = min(bptt, L - 1 - i)
                inp, target = streams[:, i:i + n], streams[:, i + 1:i + 1 + n]
                state = detach_state(state)
                logits, state = model(inp, state)
                loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1))
                optimizer.zero_grad()
                loss.backward()
                if clip is not None:
                    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
                    print(f"chunk {k}: gradient norm {float(norm):.3g} before clipping", file=sys.stderr)
                optimizer.step()
                print(f"chunk {k}: {n} steps, loss {loss.item():.4f}", file=sys.stderr)
                total += loss.item() * target.numel()
                count += target.numel()
            return total / count
        """)}),
    Honest("detaching: tbptt with a namedtuple chunk plan and math.fsum", {"train_tbptt": code("""
        import math
        from collections import namedtuple

        Chunk = namedtuple("Chunk", ["inputs", "targets", "tokens"])


        def chunk_plan(streams, bptt):
            B, L = streams.shape
            for i in range(0, L - 1, bptt):
                n = min(bptt, L - 1 - i)
                yield Chunk(streams[:, i:i + n], streams[:, i + 1:i + 1 + n], B * n)


        def train_tbptt(model, streams, bptt, optimizer, clip=None):
            state, weighted, tokens = None, [], 0
            for chunk in chunk_plan(streams, bptt):
                state = detach_state(state)
                logits, state = model(chunk.inputs, state)
                loss = F.cross_entropy(logits.flatten(0, 1), chunk.targets.flatten())
                optimizer.zero_grad()
                loss.backward()
                if clip is not None:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=clip)
                optimizer.step()
                weighted.append(loss.item() * chunk.tokens)
                tokens += chunk.tokens
            return math.fsum(weighted) / tokens
        """)}),
    Honest("detaching: tbptt with a helper class from a cell the student added", {"train_tbptt": code("""
        def train_tbptt(model, streams, bptt, optimizer, clip=None):
            meter = TokenWeightedMean()
            state = None
            L = streams.shape[1]
            for i in range(0, L - 1, bptt):
                n = min(bptt, L - 1 - i)
                state = detach_state(state)
                logits, state = model(streams[:, i:i + n], state)
                target = streams[:, i + 1:i + 1 + n]
                loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1))
                optimizer.zero_grad()
                loss.backward()
                if clip is not None:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
                optimizer.step()
                meter.add(loss.item(), target.numel())
            return meter.mean
        """)}, added=(("before", "train_tbptt", code("""
        # My helper: a running mean of the chunk losses, each weighted by its number of tokens.
        class TokenWeightedMean:
            def __init__(self):
                self.total, self.count = 0.0, 0

            def add(self, value: float, weight: int) -> None:
                self.total += value * weight
                self.count += weight

            @property
            def mean(self) -> float:
                return self.total / self.count
        """)),)),
    Honest("detaching: tbptt with module-level state (global) and functools.reduce", {"train_tbptt": code("""
        import functools

        EPOCHS_TRAINED = 0  # how many epochs this notebook has run, for my own plots
        EPOCH_LOSSES = []


        def train_tbptt(model, streams, bptt, optimizer, clip=None):
            global EPOCHS_TRAINED
            L = streams.shape[1]
            state, parts = None, []  # parts: (loss * tokens, tokens) per chunk
            for i in range(0, L - 1, bptt):
                n = min(bptt, L - 1 - i)
                state = detach_state(state)
                logits, state = model(streams[:, i:i + n], state)
                target = streams[:, i + 1:i + 1 + n]
                loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1))
                optimizer.zero_grad()
                loss.backward()
                if clip is not None:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
                optimizer.step()
                parts.append((loss.item() * target.numel(), target.numel()))
            total, tokens = functools.reduce(lambda a, b: (a[0] + b[0], a[1] + b[1]), parts)
            EPOCHS_TRAINED += 1
            EPOCH_LOSSES.append(total / tokens)
            return total / tokens
        """)}),
]

# ---------------------------------------------------------------------------------------- temperature

_SAMPLE_CHECKS = """\
if not (math.isfinite(temperature) and temperature >= 0):
    raise ValueError(f"expected a finite temperature >= 0, got {temperature}")
if top_k is not None and top_k < 1:
    raise ValueError(f"expected top_k >= 1, got {top_k}")
if top_p is not None and not 0 < top_p <= 1:
    raise ValueError(f"expected top_p in (0, 1], got {top_p}")
"""

TEMPERATURE = [
    Honest("temperature: sampler options in an argparse.Namespace", {"sample_next": code("""
        import argparse


        def sample_next(logits, temperature=1.0, top_k=None, top_p=None, generator=None):
            opt = argparse.Namespace(temperature=temperature, top_k=top_k, top_p=top_p)
            if not (math.isfinite(opt.temperature) and opt.temperature >= 0):
                raise ValueError(f"temperature must be finite and >= 0, got {opt.temperature}")
            if opt.top_k is not None and opt.top_k < 1:
                raise ValueError(f"top_k must be >= 1, got {opt.top_k}")
            if opt.top_p is not None and not (0 < opt.top_p <= 1):
                raise ValueError(f"top_p must be in (0, 1], got {opt.top_p}")
            if opt.temperature == 0:
                return logits.argmax(dim=-1)
            scaled = logits / opt.temperature
            V = scaled.shape[-1]
            if opt.top_k is not None and opt.top_k < V:
                kth = scaled.sort(dim=-1, descending=True).values[..., opt.top_k - 1:opt.top_k]
                scaled = scaled.masked_fill(scaled < kth, float("-inf"))
            probs = scaled.softmax(dim=-1)
            if opt.top_p is not None:
                sorted_p, idx = probs.sort(dim=-1, descending=True)
                keep_sorted = sorted_p.cumsum(dim=-1) - sorted_p < opt.top_p
                keep = keep_sorted.gather(-1, idx.argsort(dim=-1))  # back to the vocabulary's order
                probs = torch.where(keep, probs, torch.zeros_like(probs))
            draws = torch.multinomial(probs.reshape(-1, V), 1, generator=generator)
            return draws.reshape(probs.shape[:-1])
        """)}),
    Honest("temperature: sampler with a helper class for the filters", {"sample_next": code("""
        class TokenFilter:
            \"\"\"Temperature, then top-k, then top-p: logits (..., V) -> sampling probabilities (..., V).\"\"\"

            def __init__(self, temperature=1.0, top_k=None, top_p=None):
                if not (math.isfinite(temperature) and temperature >= 0):
                    raise ValueError(f"expected a finite temperature >= 0, got {temperature}")
                if top_k is not None and top_k < 1:
                    raise ValueError(f"expected top_k >= 1, got {top_k}")
                if top_p is not None and not 0 < top_p <= 1:
                    raise ValueError(f"expected top_p in (0, 1], got {top_p}")
                self.temperature, self.top_k, self.top_p = temperature, top_k, top_p

            def keep_top_k(self, logits):
                if self.top_k is None or self.top_k >= logits.shape[-1]:
                    return logits
                kth = logits.topk(self.top_k, dim=-1).values[..., -1:]
                return logits.masked_fill(logits < kth, float("-inf"))

            def keep_nucleus(self, probs):
                if self.top_p is None:
                    return probs
                sorted_p, order = probs.sort(dim=-1, descending=True)
                drop_sorted = sorted_p.cumsum(dim=-1) - sorted_p >= self.top_p
                drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
                return probs.masked_fill(drop, 0.0)

            def __call__(self, logits):
                return self.keep_nucleus(torch.softmax(self.keep_top_k(logits / self.temperature), dim=-1))


        def sample_next(logits, temperature=1.0, top_k=None, top_p=None, generator=None):
            token_filter = TokenFilter(temperature, top_k, top_p)
            if temperature == 0:
                return logits.argmax(dim=-1)
            probs = token_filter(logits)
            flat = probs.reshape(-1, probs.shape[-1])
            return torch.multinomial(flat, 1, generator=generator).reshape(probs.shape[:-1])
        """)}),
    Honest("temperature: sampler filters in NumPy float64", {"sample_next": with_checks(_SAMPLE_CHECKS, """
        import numpy as np


        def sample_next(logits, temperature=1.0, top_k=None, top_p=None, generator=None):
            <<checks>>
            if temperature == 0:
                return logits.argmax(dim=-1)
            z = logits.detach().cpu().numpy().astype(np.float64) / temperature  # (..., V), a new array
            V = z.shape[-1]
            if top_k is not None and top_k < V:
                kth = np.sort(z, axis=-1)[..., V - top_k][..., None]  # the k-th largest
                z = np.where(z >= kth, z, -np.inf)
            p = np.exp(z - z.max(axis=-1, keepdims=True))
            p = p / p.sum(axis=-1, keepdims=True)
            if top_p is not None:
                order = np.argsort(-p, axis=-1, kind="stable")
                sorted_p = np.take_along_axis(p, order, axis=-1)
                keep_sorted = np.cumsum(sorted_p, axis=-1) - sorted_p < top_p
                keep = np.empty_like(keep_sorted)
                np.put_along_axis(keep, order, keep_sorted, axis=-1)
                p = np.where(keep, p, 0.0)
            probs = torch.from_numpy(p).to(logits.device)
            return torch.multinomial(probs.reshape(-1, V), 1, generator=generator).reshape(probs.shape[:-1])
        """)}),
    Honest("temperature: option checks cached with functools.lru_cache, math for scalars", {"sample_next": code("""
        import functools


        @functools.lru_cache(maxsize=None)
        def checked_options(temperature, top_k, top_p):
            \"\"\"The options, or ValueError; cached, since generate asks with the same options at every step.\"\"\"
            if math.isnan(temperature) or math.isinf(temperature) or temperature < 0:
                raise ValueError(f"expected a finite temperature >= 0, got {temperature}")
            if top_k is not None and top_k < 1:
                raise ValueError(f"expected top_k >= 1, got {top_k}")
            if top_p is not None and (math.isnan(top_p) or top_p <= 0 or top_p > 1):
                raise ValueError(f"expected top_p in (0, 1], got {top_p}")
            return float(temperature), top_k, top_p


        def sample_next(logits, temperature=1.0, top_k=None, top_p=None, generator=None):
            temperature, top_k, top_p = checked_options(temperature, top_k, top_p)
            if temperature == 0.0:
                return logits.argmax(dim=-1)
            scaled = logits * (1.0 / temperature) if temperature != 1.0 else logits.clone()
            if top_k is not None:
                k = min(top_k, scaled.shape[-1])
                kth = scaled.topk(k, dim=-1).values[..., -1:]
                scaled = scaled.masked_fill(scaled < kth, -math.inf)
            probs = scaled.softmax(-1)
            if top_p is not None:
                sorted_p, order = probs.sort(dim=-1, descending=True)
                keep_sorted = (sorted_p.cumsum(-1) - sorted_p) < top_p
                keep = torch.zeros_like(keep_sorted).scatter(-1, order, keep_sorted)
                probs = probs * keep
            return torch.multinomial(probs.reshape(-1, probs.shape[-1]), 1, generator=generator).reshape(probs.shape[:-1])
        """)}),
    Honest("temperature: generate keeps a module-level token count (global)", {"generate": code("""
        TOKENS_GENERATED = 0  # across all calls: how much text this notebook has written


        def generate(model, prompt, length, temperature=1.0, top_k=None, top_p=None, generator=None):
            global TOKENS_GENERATED
            device = next(model.parameters()).device
            ids = torch.as_tensor(prompt, dtype=torch.long, device=device)
            if ids.dim() != 1 or ids.numel() == 0:
                raise ValueError(f"expected a non-empty 1-D prompt, got shape {tuple(ids.shape)}")
            new = []
            with torch.no_grad():
                logits, state = model(ids[None], None)
                for k in range(length):
                    new.append(sample_next(logits[0, -1], temperature, top_k, top_p, generator))
                    if k + 1 < length:
                        logits, state = model(new[-1].reshape(1, 1), state)
            TOKENS_GENERATED += len(new)
            return torch.stack(new) if new else torch.empty(0, dtype=torch.long, device=device)
        """)}),
    Honest("temperature: generate prints each token to stdout", {"generate": code("""
        def generate(model, prompt, length, temperature=1.0, top_k=None, top_p=None, generator=None):
            device = next(model.parameters()).device
            ids = torch.as_tensor(prompt, dtype=torch.long, device=device)
            if ids.numel() == 0 or ids.dim() != 1:
                raise ValueError("the prompt must be a non-empty list or 1-D tensor of ids")
            print(f"generate: {ids.numel()} prompt tokens, {length} new, temperature={temperature}, top_k={top_k}, "
                  f"top_p={top_p}")
            new = []
            with torch.no_grad():
                logits, state = model(ids.view(1, -1), None)
                while len(new) < length:
                    new.append(sample_next(logits[0, -1], temperature=temperature, top_k=top_k, top_p=top_p,
                                           generator=generator))
                    print("  new token:", int(new[-1]))
                    if len(new) < length:
                        logits, state = model(new[-1].view(1, 1), state)
            return torch.stack(new) if new else ids.new_empty(0)
        """)}),
    Honest("temperature: generate with itertools and a try/except fallback", {"generate": code("""
        import itertools


        def generate(model, prompt, length, temperature=1.0, top_k=None, top_p=None, generator=None):
            try:
                device = next(model.parameters()).device
            except StopIteration:  # a model without parameters: fall back to the CPU
                device = torch.device("cpu")
            ids = torch.as_tensor(prompt, dtype=torch.long, device=device)
            if ids.dim() != 1 or len(ids) == 0:
                raise ValueError("expected a non-empty 1-D prompt")
            out = torch.empty(length, dtype=torch.long, device=device)
            with torch.no_grad():
                logits, state = model(ids.unsqueeze(0), None)
                for k in itertools.islice(itertools.count(), length):
                    out[k] = sample_next(logits[0, -1], temperature, top_k, top_p, generator)
                    if k < length - 1:
                        logits, state = model(out[k:k + 1].unsqueeze(0), state)
            return out
        """)}),
    Honest("temperature: generate with a helper from a cell the student added", {"generate": code("""
        def generate(model, prompt, length, temperature=1.0, top_k=None, top_p=None, generator=None):
            x = prompt_batch(prompt, model)  # (1, P), my helper above
            new = torch.zeros(length, dtype=torch.long, device=x.device)
            with torch.no_grad():
                logits, state = model(x, None)
                for k in range(length):
                    new[k] = sample_next(logits[0, -1], temperature, top_k, top_p, generator)
                    if k + 1 < length:
                        logits, state = model(new[k].reshape(1, 1), state)
            return new
        """)}, added=(("before", "generate", code("""
        # My helper: the prompt as a (1, P) LongTensor on the model's device, checked.
        def prompt_batch(prompt, model):
            device = next(model.parameters()).device
            ids = torch.as_tensor(prompt, dtype=torch.long, device=device)
            if ids.dim() != 1 or ids.numel() == 0:
                raise ValueError(f"expected a non-empty 1-D prompt, got shape {tuple(ids.shape)}")
            return ids[None]
        """)),)),
]

# ------------------------------------------------------------------------------------------- backward

_SHAPE_CHECK = """\
for name, grad in (("dh", dh), ("dc", dc)):
    if not isinstance(grad, np.ndarray) or grad.shape != cache.h_prev.shape:
        raise ValueError(f"expected {name} of shape (B, H) = {cache.h_prev.shape}, got {np.shape(grad)}")
"""

BACKWARD = [
    Honest("backward: step reads the cache with vars()", {"lstm_step_backward": code("""
        def lstm_step_backward(dh, dc, cache, W_ih, W_hh):
            saved = vars(cache)  # the StepCache's fields as a dict
            for name, grad in (("dh", dh), ("dc", dc)):
                if np.shape(grad) != saved["h_prev"].shape:
                    raise ValueError(f"expected {name} of shape {saved['h_prev'].shape}, got {np.shape(grad)}")
            i, f, g, o, tanh_c = (saved[k] for k in ("i", "f", "g", "o", "tanh_c"))
            d_c = dc + dh * o * (1 - tanh_c ** 2)
            da = np.concatenate([d_c * g * i * (1 - i), d_c * saved["c_prev"] * f * (1 - f), d_c * i * (1 - g ** 2),
                                 dh * tanh_c * o * (1 - o)], axis=1)
            return StepGrads(dx=da @ W_ih, dh_prev=da @ W_hh, dc_prev=d_c * f, dW_ih=da.T @ saved["x"],
                             dW_hh=da.T @ saved["h_prev"], db=da.sum(axis=0))
        """)}),
    Honest("backward: step with a types.SimpleNamespace of gate gradients", {"lstm_step_backward": with_checks(_SHAPE_CHECK, """
        from types import SimpleNamespace


        def lstm_step_backward(dh, dc, cache, W_ih, W_hh):
            <<checks>>
            d = SimpleNamespace()  # dL/d(everything), one attribute per quantity
            d.o = dh * cache.tanh_c
            d.c = dc + dh * cache.o * (1.0 - cache.tanh_c ** 2)
            d.i, d.f, d.g = d.c * cache.g, d.c * cache.c_prev, d.c * cache.i
            d.a = np.concatenate([d.i * cache.i * (1.0 - cache.i), d.f * cache.f * (1.0 - cache.f),
                                  d.g * (1.0 - cache.g ** 2), d.o * cache.o * (1.0 - cache.o)], axis=1)
            return StepGrads(dx=d.a @ W_ih, dh_prev=d.a @ W_hh, dc_prev=d.c * cache.f, dW_ih=d.a.T @ cache.x,
                             dW_hh=d.a.T @ cache.h_prev, db=d.a.sum(axis=0))
        """)}),
    Honest("backward: step with functools.lru_cache row slices and a namedtuple", {"lstm_step_backward": with_checks(_SHAPE_CHECK, """
        import functools
        from collections import namedtuple

        GateGrads = namedtuple("GateGrads", "i f g o")


        @functools.lru_cache(maxsize=None)
        def gate_rows(H):
            \"\"\"The columns of da (B, 4H) that belong to each gate, in the order i, f, g, o.\"\"\"
            return GateGrads(*(slice(k * H, (k + 1) * H) for k in range(4)))


        def lstm_step_backward(dh, dc, cache, W_ih, W_hh):
            <<checks>>
            B, H = cache.h_prev.shape
            d_c = dc + dh * cache.o * (1 - cache.tanh_c ** 2)
            local = GateGrads(i=d_c * cache.g * cache.i * (1 - cache.i), f=d_c * cache.c_prev * cache.f * (1 - cache.f),
                              g=d_c * cache.i * (1 - cache.g ** 2), o=dh * cache.tanh_c * cache.o * (1 - cache.o))
            da = np.empty((B, 4 * H), dtype=np.result_type(dh, dc, cache.i))
            for rows, block in zip(gate_rows(H), local):
                da[:, rows] = block
            return StepGrads(dx=da @ W_ih, dh_prev=da @ W_hh, dc_prev=d_c * cache.f, dW_ih=da.T @ cache.x,
                             dW_hh=da.T @ cache.h_prev, db=da.sum(axis=0))
        """)}),
    Honest("backward: step logs to stderr with sys.stderr.write", {"lstm_step_backward": with_checks(_SHAPE_CHECK, """
        import sys


        def lstm_step_backward(dh, dc, cache, W_ih, W_hh):
            <<checks>>
            i, f, g, o, tanh_c = cache.i, cache.f, cache.g, cache.o, cache.tanh_c
            dc_total = dc + dh * o * (1.0 - tanh_c ** 2)
            da = np.concatenate([dc_total * g * i * (1.0 - i), dc_total * cache.c_prev * f * (1.0 - f),
                                 dc_total * i * (1.0 - g ** 2), dh * tanh_c * o * (1.0 - o)], axis=1)
            sys.stderr.write(f"lstm_step_backward: B={da.shape[0]}, H={da.shape[1] // 4}, largest |da| "
                             f"{np.abs(da).max():.3g}\\n")
            return StepGrads(dx=da @ W_ih, dh_prev=da @ W_hh, dc_prev=dc_total * f, dW_ih=da.T @ cache.x,
                             dW_hh=da.T @ cache.h_prev, db=da.sum(axis=0))
        """)}),
    Honest("backward: step with a self-check against autograd beside it", {"lstm_step_backward": with_checks(_SHAPE_CHECK, """
        def lstm_step_backward(dh, dc, cache, W_ih, W_hh):
            <<checks>>
            d_o = dh * cache.tanh_c
            d_c = dc + dh * cache.o * (1 - cache.tanh_c ** 2)
            da = np.hstack([d_c * cache.g * cache.i * (1 - cache.i), d_c * cache.c_prev * cache.f * (1 - cache.f),
                            d_c * cache.i * (1 - cache.g ** 2), d_o * cache.o * (1 - cache.o)])
            return StepGrads(dx=np.dot(da, W_ih), dh_prev=np.dot(da, W_hh), dc_prev=d_c * cache.f,
                             dW_ih=np.dot(da.T, cache.x), dW_hh=np.dot(da.T, cache.h_prev), db=np.sum(da, axis=0))


        def compare_with_autograd(B=2, I=3, H=4, seed=0):
            \"\"\"My own check: the largest difference between my gradients and autograd's, in float64.\"\"\"
            rng = np.random.default_rng(seed)
            arrays = [rng.standard_normal(s) for s in ((B, I), (B, H), (B, H), (4 * H, I), (4 * H, H), (4 * H,))]
            up_h, up_c = rng.standard_normal((B, H)), rng.standard_normal((B, H))
            _, _, step_cache = lstm_step_forward(*arrays)
            mine = lstm_step_backward(up_h, up_c, step_cache, arrays[3], arrays[4])
            leaves = [torch.tensor(a, requires_grad=True) for a in arrays]
            tx, th, tc, tW_ih, tW_hh, tb = leaves
            a_i, a_f, a_g, a_o = (tx @ tW_ih.T + th @ tW_hh.T + tb).chunk(4, dim=1)
            c_new = torch.sigmoid(a_f) * tc + torch.sigmoid(a_i) * torch.tanh(a_g)
            h_new = torch.sigmoid(a_o) * torch.tanh(c_new)
            loss = (h_new * torch.tensor(up_h)).sum() + (c_new * torch.tensor(up_c)).sum()
            theirs = torch.autograd.grad(loss, leaves)
            names = ("dx", "dh_prev", "dc_prev", "dW_ih", "dW_hh", "db")
            return max(float(np.abs(getattr(mine, n) - t.numpy()).max()) for n, t in zip(names, theirs))


        print("largest difference from autograd:", compare_with_autograd())
        """)}),
    Honest("backward: BPTT by recursion", {"lstm_backward": code("""
        def lstm_backward(dhs, caches, W_ih, W_hh, dc_T=None):
            if len(caches) == 0:
                raise ValueError("expected at least one cache")
            T, (B, H) = len(caches), caches[0].h_prev.shape
            if not isinstance(dhs, np.ndarray) or dhs.shape != (T, B, H):
                raise ValueError(f"expected dhs of shape (T, B, H) = {(T, B, H)}, got {np.shape(dhs)}")

            def back(t, dh_next, dc):
                \"\"\"Steps t, t-1, ..., 0, given the gradients arriving at h_t from step t+1 and at c_t.\"\"\"
                step = lstm_step_backward(dhs[t] + dh_next, dc, caches[t], W_ih, W_hh)
                if t == 0:
                    return [step.dx], step.dh_prev, step.dc_prev, step.dW_ih, step.dW_hh, step.db
                dxs, dh0, dc0, dW_ih, dW_hh, db = back(t - 1, step.dh_prev, step.dc_prev)
                return dxs + [step.dx], dh0, dc0, dW_ih + step.dW_ih, dW_hh + step.dW_hh, db + step.db

            zeros = np.zeros((B, H), dtype=dhs.dtype)
            dxs, dh0, dc0, dW_ih, dW_hh, db = back(T - 1, zeros, zeros if dc_T is None else dc_T)
            return SequenceGrads(dx=np.stack(dxs), dh0=dh0, dc0=dc0, dW_ih=dW_ih, dW_hh=dW_hh, db=db)
        """)}),
    Honest("backward: BPTT with functools.reduce and itertools", {"lstm_backward": code("""
        import functools
        import itertools


        def lstm_backward(dhs, caches, W_ih, W_hh, dc_T=None):
            T = len(caches)
            if T == 0 or not isinstance(dhs, np.ndarray) or dhs.shape != (T,) + caches[0].h_prev.shape:
                raise ValueError(f"expected dhs of shape (T, B, H) with T = {T} caches, got {np.shape(dhs)}")
            dh = np.zeros_like(dhs[0])
            dc = np.zeros_like(dhs[0]) if dc_T is None else dc_T
            steps = []  # from the last step to the first
            for t, cache in zip(itertools.count(T - 1, -1), reversed(caches)):
                step = lstm_step_backward(dhs[t] + dh, dc, cache, W_ih, W_hh)
                steps.append(step)
                dh, dc = step.dh_prev, step.dc_prev
            sums = {field: functools.reduce(np.add, (getattr(s, field) for s in steps))
                    for field in ("dW_ih", "dW_hh", "db")}  # the same weights at every step: their gradients add up
            return SequenceGrads(dx=np.stack([s.dx for s in reversed(steps)]), dh0=dh, dc0=dc, **sums)
        """)}),
    Honest("backward: BPTT with a helper class read with __dict__ and asserts for invariants", {"lstm_backward": code("""
        class WeightGradients:
            \"\"\"The weights' gradients, summed over the steps.\"\"\"

            def __init__(self, W_ih, W_hh):
                self.dW_ih, self.dW_hh = np.zeros_like(W_ih), np.zeros_like(W_hh)
                self.db = np.zeros(W_hh.shape[0], dtype=W_hh.dtype)

            def add(self, step):
                self.dW_ih = self.dW_ih + step.dW_ih
                self.dW_hh = self.dW_hh + step.dW_hh
                self.db = self.db + step.db


        def lstm_backward(dhs, caches, W_ih, W_hh, dc_T=None):
            if not caches:
                raise ValueError("no caches: nothing to backpropagate through")
            T, B, H = len(caches), *caches[0].h_prev.shape
            if np.shape(dhs) != (T, B, H):
                raise ValueError(f"expected dhs of shape (T, B, H) = {(T, B, H)}, got {np.shape(dhs)}")
            weights = WeightGradients(W_ih, W_hh)
            dxs = [None] * T
            dh_next = np.zeros((B, H), dtype=dhs.dtype)
            dc = np.zeros((B, H), dtype=dhs.dtype) if dc_T is None else dc_T
            for t in range(T - 1, -1, -1):
                step = lstm_step_backward(dhs[t] + dh_next, dc, caches[t], W_ih, W_hh)
                weights.add(step)
                dxs[t] = step.dx
                dh_next, dc = step.dh_prev, step.dc_prev
            assert all(dx is not None for dx in dxs), "every step must have been visited"
            return SequenceGrads(dx=np.stack(dxs), dh0=dh_next, dc0=dc, **weights.__dict__)  # dW_ih, dW_hh, db
        """)}),
]

HONEST: dict[str, list[Variant]] = {"gates": GATES, "detaching": DETACHING, "temperature": TEMPERATURE,
                                    "backward": BACKWARD}
