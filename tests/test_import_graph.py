"""The import graph of the packages has no circles and holds the layering.

Every import counts, wherever it is written: at module level, under `if TYPE_CHECKING:` or inside a function. A
circle hidden behind a lazy or type-only import is still a circle: neither module can be read, tested or moved
without the other.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("gateways", "firmware_sim", "api", "controllers")
# Who may import whom (besides itself and the standard library / third parties).
ALLOWED = {
    "controllers": {"contracts"},
    "firmware_sim": {"contracts"},
    "gateways": {"contracts", "controllers"},
    "api": {"contracts", "controllers"},
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, known: set[str]) -> set[str]:
    """The modules of `known` that the file at `path` imports (a `from pkg import mod` names the submodule)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    here = module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            # `from pkg import mod` imports the submodule; `from mod import Name` imports the module.
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        for name in names:
            # The longest known module the name starts with: `a.b.C` (a class) counts as module `a.b`.
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != here:
                found.add(name)
    return found


def graph() -> dict[str, set[str]]:
    files = [p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py") if "migrations" not in p.parts]
    known = {module_name(p) for p in files}
    return {module_name(p): imports_of(p, known) for p in files}


def find_cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Each strongly connected component of more than one module (Tarjan), as a sorted list."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return cycles


def test_the_cycle_finder_finds_a_cycle_through_a_lazy_import(tmp_path: Path) -> None:
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_imports_are_read_from_every_place_they_can_hide() -> None:
    source = ROOT / "firmware_sim" / "control.py"
    edges = imports_of(source, {module_name(p) for p in (ROOT / "firmware_sim").rglob("*.py")})
    assert "firmware_sim.faults" in edges


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_circles(package: str) -> None:
    cycles = [c for c in find_cycles(graph()) if any(m.split(".")[0] == package for m in c)]
    assert cycles == [], f"import circles in {package}/: {cycles}"


def test_layering_holds() -> None:
    files = [p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py") if "migrations" not in p.parts]
    tops = set(PACKAGES) | {"contracts", "signalight", "tests", "benchmarks", "hil_tests"}
    wrong: list[str] = []
    for path in files:
        here = module_name(path).split(".")[0]
        for top in {m.split(".")[0] for m in imports_of(path, tops)}:
            if top != here and top not in ALLOWED[here]:
                wrong.append(f"{module_name(path)} imports {top}")
    assert wrong == []


def test_the_hil_suite_is_black_box() -> None:
    """The HIL suite drives the product as an operator would: processes, the bus, the API, the wire contracts;
    it imports none of the product's packages (the test servers and its own rig are fine)."""
    product = {*PACKAGES, "signalight"}
    wrong = [f"{module_name(p)} imports {m}" for p in sorted((ROOT / "hil_tests").rglob("*.py"))
             for m in imports_of(p, product)]
    assert wrong == []
