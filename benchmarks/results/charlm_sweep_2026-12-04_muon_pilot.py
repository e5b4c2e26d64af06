"""Eighth sweep's pilot (throw-away, kept as the record of rows s8_* in charlm_sweep_2026-12-04_muon.jsonl):
the CharLM default (1 x 384) trained by the package's train_lm with AdamW swapped, by monkeypatching, for AdamW on
the embedding, output layer and biases plus a Muon on the LSTM's weight matrices. --opt gatemuon orthogonalises
each gate block (what lstm_course.optim.Muon became), --opt torchmuon the whole matrix with torch.optim.Muon.
Budget: --steps N (cosine over the steps) or --seconds S. Run from the repository root:

    .venv/bin/python benchmarks/results/charlm_sweep_2026-12-04_muon_pilot.py --opt gatemuon --ns 3 --scale 0.66 --seconds 180
"""
import sys, time, math, json, argparse
from pathlib import Path
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
import torch
import _common
from _common import read_split, set_threads
from lstm_course.models import CharLM, CharLMConfig
from lstm_course.training import TrainConfig, train_lm, evaluate_lm
from pathlib import Path

ap = argparse.ArgumentParser()
ap.add_argument("--opt", default="adamw")
ap.add_argument("--steps", type=int, default=1500)
ap.add_argument("--seconds", type=float, default=None)
ap.add_argument("--lr", type=float, default=2e-2)
ap.add_argument("--scale", type=float, default=1.0)
ap.add_argument("--ns", type=int, default=5)
ap.add_argument("--seed", type=int, default=0)
ap.add_argument("--hidden", type=int, default=384)
ap.add_argument("--embed", type=int, default=64)
ap.add_argument("--B", type=int, default=32)
ap.add_argument("--mom", type=float, default=0.95)
ap.add_argument("--wd", type=float, default=0.1)
a = ap.parse_args()

set_threads(2)
import argparse as _a
vocab, tr, va = read_split(ROOT.parent / "shared/data/tinyshakespeare.txt", 0.1, _a.ArgumentParser())
cfg = CharLMConfig.shakespeare(len(vocab)); cfg.hidden_size = a.hidden; cfg.embed_dim = a.embed
torch.manual_seed(a.seed)
model = CharLM(cfg)
hidden = {id(p) for n, p in model.named_parameters() if n.startswith("lstm.weight_")}

def ns_orth(G, steps):
    # Keller Jordan's quintic Newton-Schulz, per gate block: G (4, H, K)
    a_, b_, c_ = 3.4445, -4.7750, 2.0315
    X = G.to(torch.bfloat16)
    tr_ = X.size(-2) > X.size(-1)
    if tr_: X = X.mT
    X = X / (X.norm(dim=(-2, -1), keepdim=True) + 1e-7)
    for _ in range(steps):
        A = X @ X.mT
        B = b_ * A + c_ * A @ A
        X = a_ * X + B @ X
    if tr_: X = X.mT
    return X.to(G.dtype)

class GateMuon(torch.optim.Optimizer):
    """Muon with Newton-Schulz applied per gate block of a stacked (4H, K) LSTM weight."""
    def __init__(self, params, lr, momentum, wd, ns, per_gate):
        super().__init__(params, dict(lr=lr, momentum=momentum, wd=wd))
        self.ns, self.per_gate = ns, per_gate
    @torch.no_grad()
    def step(self):
        for g in self.param_groups:
            for p in g["params"]:
                if p.grad is None: continue
                st = self.state[p]
                buf = st.setdefault("buf", torch.zeros_like(p))
                buf.mul_(g["momentum"]).add_(p.grad)
                u = p.grad.add(buf, alpha=g["momentum"])
                if self.per_gate:
                    U = ns_orth(u.view(4, -1, u.size(1)), self.ns).reshape_as(p)
                    A, Bd = u.size(0) // 4, u.size(1)
                else:
                    U = ns_orth(u.unsqueeze(0), self.ns)[0]
                    A, Bd = u.shape
                p.mul_(1 - g["lr"] * g["wd"])
                p.add_(U, alpha=-g["lr"] * 0.2 * math.sqrt(max(A, Bd)))

class Hybrid:
    def __init__(self, groups, lr, betas, fused=True):
        adam_groups, mu = [], []
        for gr in groups:
            keep = [p for p in gr["params"] if id(p) not in hidden]
            mu += [p for p in gr["params"] if id(p) in hidden]
            if keep: adam_groups.append({**gr, "params": keep})
        self.adam = _AdamW(adam_groups, lr=lr, betas=betas, fused=True)
        if a.opt == "torchmuon":
            self.muon = torch.optim.Muon(mu, lr=lr, weight_decay=a.wd, momentum=a.mom, ns_steps=a.ns, adjust_lr_fn="match_rms_adamw")
        else:
            self.muon = GateMuon(mu, lr, a.mom, a.wd, a.ns, per_gate=(a.opt == "gatemuon"))
        self.param_groups = self.adam.param_groups
    def zero_grad(self, set_to_none=True):
        self.adam.zero_grad(set_to_none); self.muon.zero_grad(set_to_none)
    def step(self):
        for g in self.muon.param_groups: g["lr"] = self.adam.param_groups[0]["lr"] * a.scale
        self.adam.step(); self.muon.step()

_AdamW = torch.optim.AdamW
if a.opt != "adamw":
    torch.optim.AdamW = Hybrid
elif a.opt == "nadam":
    pass
tc = TrainConfig(max_steps=None if a.seconds else a.steps, max_seconds=a.seconds, lr=a.lr, seed=a.seed, batch_size=a.B)
t0 = time.perf_counter()
h = train_lm(model, tr, None, tc, progress=False)
dt = time.perf_counter() - t0
val = evaluate_lm(model, va)
steps = h.step[-1]
last = h.train_loss[-50:]
rec = dict(vars(a), steps=steps, sec=round(dt, 1), ms_per_step=round(1000 * dt / steps, 2), train=round(sum(last)/len(last), 4), val=round(val, 4))
print(json.dumps(rec), flush=True)
# (the sweep appended each printed row to a scratch file; the committed .jsonl adds the tags and conditions)
