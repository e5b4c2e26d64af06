"""What a dotted path names in the judge's process: read from the modules already loaded there (torch, sys, os,
NumPy, ...), statically. Nothing is imported and no attribute hook runs, so a student's module names cost nothing.
"""
from __future__ import annotations

import sys
import types
from functools import lru_cache

from .rules import INTERNAL_PRIVATE, UNAMBIGUOUS


def is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__") and len(name) > 4)


@lru_cache(maxsize=None)
def internal_private() -> frozenset:
    """Private names of the loaded torch, sys, os, numpy: never the student's, even where they define one."""
    names = set(INTERNAL_PRIVATE)
    for mod in ("torch", "torch.autograd", "torch.nn.functional", "sys", "os", "numpy"):
        if mod in sys.modules:
            names |= {n for n in vars(sys.modules[mod]) if is_private(n)}
    return frozenset(names)


@lru_cache(maxsize=4096)
def module_at(parts: tuple) -> str | None:
    """The module a dotted path names in this process (its ``__name__``), "" for another object, None if unknown.

    Reads module dictionaries only (``vars``): nothing is imported and no attribute hook runs."""
    obj = sys.modules.get(parts[0]) if not parts[0].startswith("__") else None
    if obj is None:
        return None
    for name in parts[1:]:
        if not isinstance(obj, types.ModuleType):
            return ""
        ns = vars(obj)
        obj = ns[name] if name in ns else sys.modules.get(f"{ns.get('__name__')}.{name}")
        if obj is None:
            return None
    return vars(obj).get("__name__", "") if isinstance(obj, types.ModuleType) else ""


_MISSING = object()


@lru_cache(maxsize=4096)
def kind_of(path: str) -> str:
    """"module", "class", "other" (a function, a constant, ...) or "unknown": what a dotted path names in this
    process. Reads module dictionaries and class attributes statically: nothing is imported, no hook runs."""
    import inspect
    parts = path.split(".")
    if parts[0] in ("__main__", "__builtin__"):  # the setup cell's classes, the builtin types
        return "class" if len(parts) == 2 else "unknown"
    obj = sys.modules.get(parts[0])
    if obj is None:
        return "unknown"
    for name in parts[1:]:
        if isinstance(obj, types.ModuleType):
            ns = vars(obj)
            obj = ns[name] if name in ns else sys.modules.get(f"{ns.get('__name__')}.{name}", _MISSING)
        elif isinstance(obj, type):
            obj = inspect.getattr_static(obj, name, _MISSING)
        else:
            return "unknown"
        if obj is _MISSING:
            return "unknown"
    return "module" if isinstance(obj, types.ModuleType) else "class" if isinstance(obj, type) else "other"


def path_views(path: str) -> list[list[str]]:
    """The path, and the path from each module inside it (``numpy.os.system`` -> also ``os.system``)."""
    parts = path.split(".")
    if parts[0] in ("posix", "nt"):
        parts[0] = "os"
    views = [parts]
    for i in range(1, len(parts)):
        name = module_at(tuple(parts[:i + 1]))
        if name is None:
            if parts[i] in UNAMBIGUOUS:
                views.append(parts[i:])
        elif name == "":
            break
        elif name != ".".join(parts[:i + 1]):
            views.append(name.split(".") + parts[i + 1:])
    return views


def canonical(path: str) -> set[str]:
    """Every view of a path as a dotted name (``os.sys.path`` -> also ``sys.path``)."""
    return {".".join(v) for v in path_views(path)}
