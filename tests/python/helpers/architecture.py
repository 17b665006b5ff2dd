"""The package's import rules (docs/design.md "Package"), checked over the source: which part of
customer_ml may import which, no import circle between modules (imports inside functions count),
no `_private` name imported from another module, no module over 400 lines and no macro file over
200. `make lint` runs it on src/customer_ml;
tests/python/test_architecture.py runs it on trees that break each rule.

Written here rather than taken from import-linter: its layer contracts do not see private names,
and one AST walk states all three rules in one place.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

FOUNDATION = {"config", "catalogue", "dbt_runner"}
# part -> the parts it may import (a part is a subpackage or a top-level module of customer_ml)
ALLOWED: dict[str, set[str]] = {
    "config": set(),
    "catalogue": {"config"},
    "dbt_runner": {"config"},
    "models": set(),
    "records": FOUNDATION | {"models"},
    "data": FOUNDATION | {"records"},
    "pipeline": FOUNDATION | {"models", "records"},
    "replay": FOUNDATION | {"models", "records", "data"},
    "governance": FOUNDATION | {"models", "records", "replay"},
    "bench": FOUNDATION | {"data"},
    "season": FOUNDATION | {"models", "data"},
    "dbt_plugin": FOUNDATION | {"models", "records", "data", "pipeline", "replay", "governance"},
    "cli": FOUNDATION
    | {"models", "records", "data", "pipeline", "replay", "governance", "bench", "season"}
    | {"dbt_plugin"},
}


def modules(package: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package folder."""
    out = {}
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package.parent).with_suffix("").parts
        out[".".join(parts).removesuffix(".__init__")] = path
    return out


def imports(package: Path) -> dict[str, set[tuple[str, str]]]:
    """Module -> {(imported module, imported name or "")}, within the package."""
    mods = modules(package)
    root = package.name
    out: dict[str, set[tuple[str, str]]] = {}
    for name, path in mods.items():
        found: set[tuple[str, str]] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                if node.module == root or node.module.startswith(root + "."):
                    for alias in node.names:
                        full = f"{node.module}.{alias.name}"
                        found.add((full, "") if full in mods else (node.module, alias.name))
            elif isinstance(node, ast.ImportFrom) and node.level:
                found.add(("<relative>", node.module or ""))
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name == root or alias.name.startswith(root + "."):
                        found.add((alias.name, ""))
        found = {(m, n) for m, n in found if m != name}
        out[name] = found
    return out


def part_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan), as a sorted list."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return sorted(groups)


def problems(package: Path) -> list[str]:
    """One line per broken rule; empty when the package keeps them all."""
    found = imports(package)
    out = []
    for module, targets in sorted(found.items()):
        mine = part_of(module)
        for target, name in sorted(targets):
            if target == "<relative>":
                out.append(f"{module}: relative import (write customer_ml.<part>.<module>)")
                continue
            theirs = part_of(target)
            if mine and theirs and mine != theirs and theirs not in ALLOWED.get(mine, set()):
                out.append(f"{module} imports {target}: {mine} may not import {theirs}")
            if mine and mine not in ALLOWED:
                out.append(f"{module}: part {mine!r} has no rule in ALLOWED")
            if name.startswith("_"):
                out.append(f"{module} imports the private name {target}.{name}")
    edges = {m: {t for t, _ in ts if t in found} for m, ts in found.items()}
    out += [f"import circle: {' <-> '.join(group)}" for group in circles(edges)]
    return sorted(set(out))


MAX_LINES = {".py": 400, ".sql": 200}


def too_long(folder: Path, suffix: str) -> list[str]:
    """One line per file of `folder` (recursively) longer than MAX_LINES for its suffix."""
    limit = MAX_LINES[suffix]
    out = []
    for path in sorted(folder.rglob(f"*{suffix}")):
        n = len(path.read_text().splitlines())
        if n > limit:
            out.append(f"{path}: {n} lines (at most {limit}: split it by responsibility)")
    return out


def main(argv: list[str]) -> int:
    package = Path(argv[0]) if argv else Path("src/customer_ml")
    macros = Path(argv[1]) if len(argv) > 1 else Path("macros")
    lines = problems(package) + too_long(package, ".py") + too_long(macros, ".sql")
    for line in lines:
        print(line)
    graph = imports(package)
    edges = sum(len({t for t, _ in ts}) for ts in graph.values())
    print(
        f"{package}: {len(graph)} modules, {edges} import edges, "
        f"{len(lines)} problem{'s' * (len(lines) != 1)}",
        file=sys.stderr,
    )
    return 1 if lines else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
