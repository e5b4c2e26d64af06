"""How the alias analysis writes what an expression may hold, and the caps that keep its fixpoint finite.

A value is a dotted path of a module or of an attribute of one (``"torch.nn"``); ``"*p"`` is a container that may
hold ``p`` (``[torch]`` is ``"*torch"``), ``"**p"`` a container of such containers, and ``NS`` is what ``locals()``,
``vars()`` and ``globals()`` return (a namespace read by string key).
"""
from __future__ import annotations

MUTATORS = {"append", "extend", "insert", "remove", "pop", "clear", "update", "setdefault", "add", "discard",
            "__setitem__", "__delitem__", "sort", "reverse", "popitem", "appendleft", "extendleft"}
PASS = {"copy", "deepcopy", "nullcontext", "iter", "list", "tuple", "set", "frozenset", "sorted", "reversed",
        "filter", "deque", "ChainMap", "dict", "OrderedDict", "defaultdict", "MappingProxyType"}
BUILD = {"zip", "enumerate", "SimpleNamespace", "Namespace", "partial", "namedtuple", "product", "chain"}
UNWRAP = {"next", "min", "max"}
STARS, PARTS, WIDTH = 3, 8, 256  # caps that keep the alias fixpoint finite
NS = "__namespace__"  # what locals()/vars() return


def plain(vals):
    return {v for v in vals if not v.startswith("*")}


def unwrap(vals):
    return {v[1:] for v in vals if v.startswith("*")}


def wrap(vals):
    return {"*" + v for v in vals}


def within_caps(v: str) -> bool:
    return len(v) - len(v.lstrip("*")) <= STARS and v.count(".") < PARTS
