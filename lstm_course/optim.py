"""The optimisers :func:`lstm_course.training.train_lm` builds: AdamW, and Muon for an LSTM's gate matrices.

Muon: momentum whose step for each weight matrix is orthogonalised, one LSTM gate at a time.

AdamW scales the step of every single weight by that weight's own gradient history. Muon (Keller Jordan, 2024,
"Muon: An optimizer for hidden layers in neural networks") treats a weight matrix as one linear map instead: it
keeps a momentum M of the gradient and steps along the semi-orthogonal matrix nearest to it, O = U V^T where
M = U S V^T. Every direction in which the gradient moves the map gets the same step size, so a few large singular
directions cannot crowd out the rest. O is approximated by a few Newton-Schulz iterations, matrix products only,
no SVD. An LSTM's stacked weights hold four maps, the i, f, g, o gates (rows ``k*H:(k+1)*H`` of ``weight_ih``
(4H, I) and ``weight_hh`` (4H, H)); ``blocks=4`` orthogonalises each gate's (H, .) block on its own.

One step, for each matrix W of shape (R, C) cut into ``blocks`` row blocks of shape (A, C), A = R / blocks::

    B_t = mu B_(t-1) + G_t                                  momentum buffer (B_0 = 0)
    M_t = G_t + mu B_t                                      Nesterov
    O_t = NS_k(M_t), block by block                         ~ U V^T of each block
    W_t = (1 - lr * wd) W_(t-1) - lr * 0.2 sqrt(max(A, C)) O_t

The factor 0.2 sqrt(max(A, C)) gives the step the root-mean-square of a typical AdamW step (Liu et al. 2025,
"Muon is scalable for LLM training", also ``adjust_lr_fn="match_rms_adamw"`` of ``torch.optim.Muon``), so a
learning rate tuned for AdamW is a sensible start. ``torch.optim.Muon`` orthogonalises a whole matrix, in its own
dtype; this one works per gate block and in ``ns_dtype`` (bfloat16 where training runs in bfloat16, for speed).
Why per block, and what Muon bought the course's default in 180 s: benchmarks/README.md ("Eighth sweep").

Embeddings, output layers and biases are not maps between hidden spaces; train them with AdamW
(:func:`lstm_course.training.train_lm` with ``TrainConfig(optimizer="muon")`` does that split).
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Callable, Iterable

import torch
from torch import Tensor, nn

if TYPE_CHECKING:  # training imports this module
    from lstm_course.training import TrainConfig

__all__ = ["newton_schulz", "Muon", "build_optimizers"]

# Jordan's quintic: p(s) = a s + b s^3 + c s^5 pushes every singular value in (0, 1] towards [0.7, 1.2] in a few
# iterations (a steep slope at 0 matters more than landing exactly on 1)
NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)


def newton_schulz(G: Tensor, steps: int = 3, dtype: torch.dtype | None = None, eps: float = 1e-7) -> Tensor:
    """Approximately orthogonalise the last two dimensions of ``G`` (..., m, n).

    With ``G = U S V^T`` the result is ``U p(S / ||G||_F) V^T``: the same singular vectors, each singular value
    replaced by ``steps`` applications of Jordan's polynomial (values close to 1). Computed in ``dtype``
    (default: ``G``'s), returned in ``G``'s dtype.
    """
    if not isinstance(G, Tensor) or G.dim() < 2:
        raise ValueError(f"newton_schulz: expected a tensor of shape (..., m, n), got "
                         f"{tuple(G.shape) if isinstance(G, Tensor) else type(G).__name__}")
    if not (isinstance(steps, int) and steps >= 1):
        raise ValueError(f"newton_schulz: expected steps >= 1, got {steps!r}")
    a, b, c = NS_COEFFICIENTS
    X = G.to(dtype or G.dtype)
    wide = X.size(-2) <= X.size(-1)
    if not wide:  # iterate on the short side: X X^T is then the small (m, m) product
        X = X.mT
    X = X / (torch.linalg.matrix_norm(X, keepdim=True) + eps)  # Frobenius norm >= spectral: singular values <= 1
    for _ in range(steps):
        A = X @ X.mT  # (..., m, m)
        X = a * X + (b * A + c * A @ A) @ X
    if not wide:
        X = X.mT
    return X.to(G.dtype)


class Muon(torch.optim.Optimizer):
    """Muon for 2-D weight matrices, orthogonalising each of ``blocks`` equal row blocks separately.

    Args:
        params: 2-D tensors or parameter groups (a group may set its own ``blocks``, ``lr`` and the rest).
        lr: learning rate (see the module docstring for the step). Default: 2e-2.
        momentum: mu, the momentum of the gradient. Default: 0.95.
        weight_decay: wd, decoupled weight decay (the weights shrink by ``lr * wd`` per step). Default: 0.1.
        ns_steps: Newton-Schulz iterations per step. Default: 3.
        blocks: row blocks per matrix, orthogonalised one by one (4 for an LSTM's stacked gates). Default: 1.
        ns_dtype: dtype of the Newton-Schulz products, ``None`` = the weights' dtype. Default: ``None``.

    Raises ``ValueError`` for a parameter that is not 2-D or whose rows ``blocks`` does not divide.
    """

    def __init__(self, params: Iterable[Any], lr: float = 2e-2, momentum: float = 0.95, weight_decay: float = 0.1,
                 ns_steps: int = 3, blocks: int = 1, ns_dtype: torch.dtype | None = None) -> None:
        if not lr > 0:
            raise ValueError(f"Muon: expected lr > 0, got {lr!r}")
        if not 0 <= momentum < 1:
            raise ValueError(f"Muon: expected 0 <= momentum < 1, got {momentum!r}")
        if not weight_decay >= 0:
            raise ValueError(f"Muon: expected weight_decay >= 0, got {weight_decay!r}")
        if not (isinstance(ns_steps, int) and ns_steps >= 1):
            raise ValueError(f"Muon: expected ns_steps >= 1, got {ns_steps!r}")
        defaults = dict(lr=lr, momentum=momentum, weight_decay=weight_decay, ns_steps=ns_steps, blocks=blocks)
        super().__init__(params, defaults)
        self.ns_dtype = ns_dtype
        for group in self.param_groups:
            k = group["blocks"]
            if not (isinstance(k, int) and k >= 1):
                raise ValueError(f"Muon: expected blocks >= 1, got {k!r}")
            for p in group["params"]:
                if p.dim() != 2 or p.size(0) % k:
                    raise ValueError(f"Muon: expected 2-D weights whose rows divide into blocks={k}, "
                                     f"got shape {tuple(p.shape)}")

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, mu, wd, k = group["lr"], group["momentum"], group["weight_decay"], group["blocks"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.zeros_like(p)
                buf = state["momentum_buffer"]
                buf.mul_(mu).add_(p.grad)
                m = p.grad.add(buf, alpha=mu)  # Nesterov
                rows, cols = p.size(0) // k, p.size(1)
                o = newton_schulz(m.view(k, rows, cols), group["ns_steps"], self.ns_dtype).view_as(p)  # (k, A, C)
                p.mul_(1 - lr * wd)
                p.add_(o, alpha=-lr * 0.2 * math.sqrt(max(rows, cols)))
        return loss


def build_optimizers(model: nn.Module, params: list[nn.Parameter], config: "TrainConfig",
                     ns_dtype: torch.dtype | None = None) -> list[torch.optim.Optimizer]:
    """AdamW for ``params``, and with ``config.optimizer == "muon"`` a :class:`Muon` (its Newton-Schulz products in
    ``ns_dtype``) for the matrices ``model.matrix_blocks()`` lists as ``(parameter, blocks)`` pairs instead.

    Every parameter group carries ``lr_scale``: the schedule's lr times it is the group's lr at each step.
    Raises ``ValueError`` for ``optimizer="muon"`` and a model without ``matrix_blocks()``.
    """
    muon_groups: dict[int, list[nn.Parameter]] = {}  # blocks -> matrices
    if config.optimizer == "muon":
        matrix_blocks = getattr(model, "matrix_blocks", None)
        if not callable(matrix_blocks):
            raise ValueError(f"TrainConfig(optimizer='muon'): expected a model with a matrix_blocks() method "
                             f"(the weight matrices to orthogonalise, as CharLM has), got {type(model).__name__} "
                             f"without one; use optimizer='adamw'")
        for p, blocks in matrix_blocks():
            if p.requires_grad:
                muon_groups.setdefault(blocks, []).append(p)
    in_muon = {id(p) for group in muon_groups.values() for p in group}
    rest = [p for p in params if id(p) not in in_muon]
    # decay matrices (embeddings, weight_ih/hh, output layer) but not biases: minGPT's grouping
    groups = [{"params": [p for p in rest if p.dim() >= 2], "weight_decay": config.weight_decay, "lr_scale": 1.0},
              {"params": [p for p in rest if p.dim() < 2], "weight_decay": 0.0, "lr_scale": 1.0}]
    groups = [g for g in groups if g["params"]]
    optimizers: list[torch.optim.Optimizer] = []
    if groups:
        try:  # the fused kernel is several times faster than the per-tensor loop, on CPU too
            optimizers.append(torch.optim.AdamW(groups, lr=config.lr, betas=config.betas, fused=True))
        except (RuntimeError, ValueError):  # a device or dtype the fused kernel does not support
            optimizers.append(torch.optim.AdamW(groups, lr=config.lr, betas=config.betas))
    if muon_groups:
        optimizers.append(Muon([{"params": ps, "blocks": k, "lr_scale": config.muon_lr_scale}
                                for k, ps in muon_groups.items()],
                               lr=config.lr * config.muon_lr_scale, momentum=config.muon_momentum,
                               weight_decay=config.weight_decay, ns_steps=config.muon_ns_steps, ns_dtype=ns_dtype))
    return optimizers
