"""Small helpers on ``ast`` nodes shared by the alias analysis and the checker."""
from __future__ import annotations

import ast


def walk_scope(node):
    """The nodes of a function's body, without descending into nested functions, lambdas and classes."""
    todo = list(ast.iter_child_nodes(node))
    while todo:
        sub = todo.pop()
        yield sub
        if not isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            todo.extend(ast.iter_child_nodes(sub))


def const_strs(node) -> set[str] | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)) and node.elts and all(
            isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts):
        return {e.value for e in node.elts}
    return None


def attr_chain(node) -> list[str]:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return parts[::-1]


def snippet(node) -> str:
    try:
        text = ast.unparse(node)
    except Exception:  # pragma: no cover -- unparse handles every node ast.parse makes
        text = type(node).__name__
    return text if len(text) <= 60 else text[:57] + "..."
