"""The strings an expression may take, for names computed at run time (``getattr(obj, name)``).

``Strings.strings(node)`` answers ``(values, exact)``: the exact values, or (``exact`` false) prefixes the value
starts with; ``None`` where nothing is known. It follows constants, f-strings, ``+``, ``%`` and ``.format``
prefixes, names bound to such values (in their function, else at module level), loops over literal collections,
guards (``if name.startswith("bias_")``, ``if name in (...)``, ``if not ...: continue``) and the arguments every
call of a function passes for a parameter.
"""
from __future__ import annotations

import ast

from .rules import DANGER
from .syntax import const_strs, walk_scope


class Strings:
    """String values over a set of parsed cells; ``parent`` maps ``id(node)`` to the node that holds it."""

    def __init__(self, trees: list[ast.AST], parent: dict[int, ast.AST]):
        self.trees, self.parent = trees, parent

    def strings(self, node, depth: int = 0):
        """(values, exact) a string expression may take: exact values, or the prefixes they start with; None if
        unknown."""
        if depth > 8:
            return None
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return {node.value}, True
        if isinstance(node, ast.Name):
            return self._name_strings(node, depth)
        if isinstance(node, ast.JoinedStr):
            vals, exact = {""}, True
            for part in node.values:
                if isinstance(part, ast.Constant):
                    vals = {v + str(part.value) for v in vals}
                    continue
                plain = part.conversion == -1 and part.format_spec is None
                inner = self.strings(part.value, depth + 1) if plain else None
                if inner is None:
                    return vals, False
                vals = {v + s for v in vals for s in inner[0]}
                if not inner[1]:
                    return vals, False
                if len(vals) > 64:
                    return None
            return vals, exact
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            left = self.strings(node.left, depth + 1)
            if left is None or not left[1]:
                return left
            right = self.strings(node.right, depth + 1)
            if right is None:
                return left[0], False
            vals = {a + b for a in left[0] for b in right[0]}
            return (vals, right[1]) if len(vals) <= 64 else None
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod) and isinstance(node.left, ast.Constant) \
                and isinstance(node.left.value, str):
            return {node.left.value.split("%")[0]}, False
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format" \
                and isinstance(node.func.value, ast.Constant) and isinstance(node.func.value.value, str):
            return {node.func.value.value.split("{")[0]}, False
        if isinstance(node, ast.IfExp):
            a, b = self.strings(node.body, depth + 1), self.strings(node.orelse, depth + 1)
            return None if a is None or b is None else (a[0] | b[0], a[1] and b[1])
        return None

    def _iter_strings(self, node, depth: int):
        """The strings a loop over ``node`` gives: a literal of strings, a comprehension of strings, the keys of a
        literal dict, or a name bound only to such collections."""
        if depth > 8:
            return None
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)) and node.elts:
            found = [self.strings(e, depth + 1) for e in node.elts]
            if any(f is None for f in found):
                return None
            return set().union(*(f[0] for f in found)), all(f[1] for f in found)
        if isinstance(node, ast.Dict) and node.keys and all(k is not None for k in node.keys):
            return self._iter_strings(ast.Tuple(elts=list(node.keys)), depth + 1)
        if isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp)):
            return self.strings(node.elt, depth + 1)
        if isinstance(node, ast.Call) and not node.keywords and len(node.args) == 1 and (
                isinstance(node.func, ast.Name) and node.func.id in ("sorted", "list", "tuple", "reversed", "set")):
            return self._iter_strings(node.args[0], depth + 1)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "keys" \
                and not node.args:
            return self._iter_strings(node.func.value, depth + 1)
        if isinstance(node, ast.Name):
            bindings = self._scope_bindings(node)
            if not bindings or any(not (isinstance(n, ast.Assign) and target is sub) for n, target, sub in bindings):
                return None
            found = [self._iter_strings(n.value, depth + 1) for n, _, _ in bindings]
            if any(f is None for f in found):
                return None
            return set().union(*(f[0] for f in found)), all(f[1] for f in found)
        return None

    def _position_strings(self, it, i: int, width: int, depth: int):
        """The strings at position ``i`` of what a loop over ``it`` unpacks into ``width`` targets."""
        if isinstance(it, (ast.Tuple, ast.List)) and it.elts and all(
                isinstance(r, (ast.Tuple, ast.List)) and len(r.elts) == width for r in it.elts):
            parts = [self.strings(r.elts[i], depth + 1) for r in it.elts]
            if all(p is not None for p in parts):
                return set().union(*(p[0] for p in parts)), all(p[1] for p in parts)
            return None
        if isinstance(it, ast.Call) and isinstance(it.func, ast.Name) and not it.keywords and not any(
                isinstance(a, ast.Starred) for a in it.args):
            if it.func.id == "zip" and len(it.args) == width:
                return self._iter_strings(it.args[i], depth + 1)
            if it.func.id == "enumerate" and width == 2 and i == 1 and it.args:
                return self._iter_strings(it.args[0], depth + 1)
        if isinstance(it, ast.Call) and isinstance(it.func, ast.Attribute) and it.func.attr == "items" and width == 2 \
                and i == 0 and not it.args:
            return self._iter_strings(it.func.value, depth + 1)
        return None

    def _guard(self, name: str, test) -> tuple | None:
        """What ``test`` (true) says about the string ``name``: ``name.startswith(...)`` or ``name in (...)``."""
        if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.And):
            for v in test.values:
                found = self._guard(name, v)
                if found:
                    return found
            return None
        if isinstance(test, ast.Call) and isinstance(test.func, ast.Attribute) and test.func.attr == "startswith" \
                and isinstance(test.func.value, ast.Name) and test.func.value.id == name and test.args:
            found = const_strs(test.args[0])
            return (found, False) if found else None
        if isinstance(test, ast.Compare) and isinstance(test.left, ast.Name) and test.left.id == name and len(
                test.ops) == 1 and isinstance(test.ops[0], (ast.In, ast.Eq)):
            found = const_strs(test.comparators[0])
            return (found, True) if found else None
        return None

    def _narrowed(self, node: ast.Name):
        """A guard around this use: ``if name.startswith("bias_"):``, ``[... for n in xs if n in ("a", "b")]``,
        or an earlier ``if not name.startswith(...): continue``; none counts where the name is bound again after it."""
        name = node.id
        rebinds = lambda region: any(  # noqa: E731
            isinstance(n, ast.Name) and n.id == name and not isinstance(n.ctx, ast.Load)
            for part in region for n in ast.walk(part))
        child, up = node, self.parent.get(id(node))
        while up is not None:
            guarded = isinstance(up, (ast.If, ast.While)) and child in up.body or isinstance(
                up, ast.IfExp) and child is up.body
            if guarded and not rebinds(up.body if isinstance(up.body, list) else [up.body]):
                found = self._guard(name, up.test)
                if found:
                    return found
            if isinstance(up, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)) and child not in \
                    up.generators and not rebinds([getattr(up, f) for f in ("elt", "key", "value") if hasattr(up, f)]):
                for gen in up.generators:
                    for cond in gen.ifs:
                        found = self._guard(name, cond)
                        if found:
                            return found
            for field in ("body", "orelse", "finalbody"):
                stmts = getattr(up, field, None)
                if isinstance(stmts, list) and child in stmts:
                    for k, stmt in enumerate(stmts[:stmts.index(child)]):
                        if isinstance(stmt, ast.If) and not stmt.orelse and isinstance(stmt.test, ast.UnaryOp) and \
                                isinstance(stmt.test.op, ast.Not) and stmt.body and isinstance(
                                    stmt.body[-1], (ast.Continue, ast.Return, ast.Raise, ast.Break)) and not rebinds(
                                    stmts[k + 1:stmts.index(child) + 1]):
                            found = self._guard(name, stmt.test.operand)
                            if found:
                                return found
            if isinstance(up, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
                break
            child, up = up, self.parent.get(id(up))
        return None

    def _scope(self, node):
        up = self.parent.get(id(node))
        while up is not None and not isinstance(up, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            up = self.parent.get(id(up))
        return up

    def _scope_bindings(self, node: ast.Name) -> list | None:
        """Where the name used at ``node`` is bound: in its function (None for a parameter), else at module level."""
        scope, name = self._scope(node), node.id
        if scope is not None:
            a = scope.args
            if name in {p.arg for p in a.posonlyargs + a.args + a.kwonlyargs + [a.vararg, a.kwarg] if p}:
                return None
            nodes = list(walk_scope(scope))
            declared = any(isinstance(n, (ast.Global, ast.Nonlocal)) and name in n.names for n in nodes)
            bindings = [] if declared else self._bindings(name, nodes)
            if bindings:
                return bindings
        return self._bindings(name, [n for tree in self.trees for n in walk_scope(tree)])

    def _name_strings(self, node: ast.Name, depth: int):
        guard = self._narrowed(node)
        if guard:
            return guard
        scope = self._scope(node)
        if scope is not None and self._scope_bindings(node) is None:
            return self._param_strings(scope, node.id, depth)
        bindings = self._scope_bindings(node)
        return self._combine(bindings, depth) if bindings else None

    def _param_strings(self, fn, name: str, depth: int):
        """A parameter's strings: what every call of the function passes (and its default), when the function is
        only ever called by its name (never passed on as a value)."""
        up = self.parent.get(id(fn))
        if isinstance(fn, ast.Lambda):
            if not (isinstance(up, ast.Assign) and len(up.targets) == 1 and isinstance(up.targets[0], ast.Name)):
                return None
            fname = up.targets[0].id
        elif isinstance(up, ast.ClassDef):
            return None
        else:
            fname = fn.name
        a = fn.args
        pos = [p.arg for p in a.posonlyargs + a.args]
        defaults = dict(zip(pos[len(pos) - len(a.defaults):], a.defaults))
        defaults.update({p.arg: d for p, d in zip(a.kwonlyargs, a.kw_defaults) if d is not None})
        if name not in pos and name not in {p.arg for p in a.kwonlyargs}:
            return None
        values = [defaults[name]] if name in defaults else []
        calls = 0
        for tree in self.trees:
            for use in ast.walk(tree):
                if not (isinstance(use, ast.Name) and use.id == fname and isinstance(use.ctx, ast.Load)):
                    continue
                call = self.parent.get(id(use))
                if not (isinstance(call, ast.Call) and call.func is use) or any(
                        isinstance(x, ast.Starred) for x in call.args) or any(k.arg is None for k in call.keywords):
                    return None
                calls += 1
                given = {k.arg: k.value for k in call.keywords}
                if name in pos and pos.index(name) < len(call.args):
                    values.append(call.args[pos.index(name)])
                elif name in given:
                    values.append(given[name])
        if not calls or not values:
            return None
        found = [self.strings(v, depth + 1) for v in values]
        if any(f is None for f in found):
            return None
        return set().union(*(f[0] for f in found)), all(f[1] for f in found)

    @staticmethod
    def _bindings(name: str, nodes) -> list:
        out = []
        for n in nodes:
            if isinstance(n, (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.For, ast.AsyncFor, ast.comprehension,
                              ast.withitem, ast.NamedExpr)):
                targets = n.targets if isinstance(n, ast.Assign) else [
                    n.optional_vars if isinstance(n, ast.withitem) else n.target]
                for t in targets:
                    if t is None:
                        continue
                    for sub in ast.walk(t):
                        if isinstance(sub, ast.Name) and sub.id == name and not isinstance(sub.ctx, ast.Load):
                            out.append((n, t, sub))
            elif isinstance(n, (ast.Import, ast.ImportFrom)) and any((a.asname or a.name) == name for a in n.names):
                out.append((n, None, None))
            elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and n.name == name:
                out.append((n, None, None))
            elif isinstance(n, ast.ExceptHandler) and n.name == name:
                out.append((n, None, None))
        return out

    def _combine(self, bindings: list, depth: int):
        vals, exact = set(), True
        for n, target, sub in bindings:
            found = None
            if isinstance(n, ast.Assign) and target is sub:
                found = self.strings(n.value, depth + 1)
            elif isinstance(n, ast.AnnAssign) and target is sub and n.value is not None:
                found = self.strings(n.value, depth + 1)
            elif isinstance(n, (ast.For, ast.AsyncFor, ast.comprehension)):
                if target is sub:
                    found = self._iter_strings(n.iter, depth)
                elif isinstance(target, ast.Tuple) and sub in target.elts:
                    found = self._position_strings(n.iter, target.elts.index(sub), len(target.elts), depth)
            if found is None:
                return None
            vals |= found[0]
            exact = exact and found[1]
        return vals, exact


def safe_prefix(prefix: str) -> bool:
    """A computed name that starts with ``prefix`` can be none of the names the rules look for."""
    return bool(prefix) and not prefix.startswith("_") and not any(d.startswith(prefix) for d in DANGER)
