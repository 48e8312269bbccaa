"""The package's import structure (docs/architecture.md): every module imports on its own, the graph of imports
among chaossim modules has no cycle, counting imports inside functions (lazy imports), neither has the graph of
rooms (the top-level modules and packages), every import goes down the layers, and the core (all but
chaossim.sweep) imports no Dask when it is imported.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import chaossim

PACKAGE = Path(chaossim.__file__).parent


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_package(name: str) -> bool:
    return MODULES.get(name) is not None and MODULES[name].name == "__init__.py"


def _ancestors(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _resolve(importer: str, node: ast.ImportFrom | ast.Import) -> set[str]:
    """The chaossim modules an import statement of ``importer`` executes (with the packages above them)."""
    targets: set[str] = set()
    if isinstance(node, ast.Import):
        targets = {a.name for a in node.names if a.name.split(".")[0] == "chaossim"}
    else:
        if node.level:
            base = importer.split(".") if _is_package(importer) else importer.split(".")[:-1]
            base = base[: len(base) - (node.level - 1)]
            source = ".".join(base + ([node.module] if node.module else []))
        else:
            source = node.module or ""
        if source.split(".")[0] != "chaossim":
            return set()
        subs = {f"{source}.{a.name}" for a in node.names if f"{source}.{a.name}" in MODULES}
        targets |= subs
        if len(subs) < len(node.names):  # some names are attributes of ``source`` itself
            targets.add(source)
        elif source not in _ancestors(importer):  # importing a submodule runs its package's __init__
            targets.add(source)
    out = set()
    own = set(_ancestors(importer))
    for t in targets:
        while t not in MODULES and "." in t:
            t = t.rsplit(".", 1)[0]
        out.add(t)
        out |= {a for a in _ancestors(t) if a not in own}
    out.discard(importer)
    return out


def _imports(name: str) -> tuple[set[str], set[str]]:
    """(top-level, lazy) chaossim imports of a module; ``if TYPE_CHECKING:`` blocks are neither."""
    tree = ast.parse(MODULES[name].read_text(), filename=str(MODULES[name]))
    top: set[str] = set()
    lazy: set[str] = set()

    def visit(body, in_function: bool):
        for node in body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                (lazy if in_function else top).update(_resolve(name, node))
            elif isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                visit(node.body, True)
            else:
                for field in ("body", "orelse", "finalbody", "handlers"):
                    visit(getattr(node, field, []) or [], in_function)

    visit(tree.body, False)
    return top, lazy - top


def _graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    top, lazy = {}, {}
    for name in MODULES:
        top[name], lazy[name] = _imports(name)
    return top, lazy


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def dfs(u: str) -> list[str] | None:
        state[u] = 1
        stack.append(u)
        for v in sorted(graph.get(u, ())):
            if state.get(v) == 1:
                return stack[stack.index(v):] + [v]
            if v not in state:
                found = dfs(v)
                if found:
                    return found
        stack.pop()
        state[u] = 2
        return None

    for u in sorted(graph):
        if u not in state:
            found = dfs(u)
            if found:
                return found
    return None


def _reaches(graph: dict[str, set[str]], src: str, dst: str) -> bool:
    seen, todo = set(), [src]
    while todo:
        u = todo.pop()
        if u == dst:
            return True
        if u not in seen:
            seen.add(u)
            todo.extend(graph.get(u, ()))
    return False


def test_the_resolver_sees_relative_and_package_imports():
    top, _ = _imports("chaossim.runs.training")
    assert {"chaossim.runs.rundir", "chaossim.runs.build", "chaossim.streams"} <= top
    assert "chaossim" not in top  # `from . import streams` imports a submodule, not the package's names
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": set()}) is None


def test_top_level_imports_have_no_cycle():
    top, _ = _graph()
    cycle = _find_cycle(top)
    assert cycle is None, "import cycle among chaossim modules: " + " -> ".join(cycle or [])


def test_no_cycle_counting_lazy_imports():
    top, lazy = _graph()
    full = {u: top[u] | lazy[u] for u in top}
    cycle = _find_cycle(full)
    assert cycle is None, "import cycle, counting imports inside functions: " + " -> ".join(cycle or [])
    on_cycle = {(u, v) for u, vs in lazy.items() for v in vs if _reaches(full, v, u)}
    assert not on_cycle


def _room(name: str) -> str:
    """The room of a module: its top-level module or package under chaossim; entry points (``__main__``
    modules, which are run and never imported) are a room of their own, above all the others."""
    parts = name.split(".")
    if parts[-1] == "__main__":
        return "__main__"
    return parts[1] if len(parts) > 1 else "chaossim"


def test_rooms_have_no_cycle_counting_lazy_imports():
    top, lazy = _graph()
    rooms: dict[str, set[str]] = {}
    for u in top:
        if u == "chaossim":  # the package's __init__ re-exports from every room
            continue
        for v in top[u] | lazy[u]:
            if _room(v) != _room(u) and v != "chaossim":
                rooms.setdefault(_room(u), set()).add(_room(v))
    cycle = _find_cycle(rooms)
    assert cycle is None, "import cycle between rooms (lazy imports counted): " + " -> ".join(cycle or [])
    assert _find_cycle({"cli": {"sweep"}, "sweep": {"cli"}}) == ["cli", "sweep", "cli"]


# The layers of docs/architecture.md, bottom first: a module imports (at the top or inside a function) only from
# its layer or below; entry points (``__main__`` modules) are the top layer.
LAYERS = [
    ["errors", "backend", "validation", "streams", "io", "fs", "process", "interrupts", "_version", "strict",
     "dynamics"],
    ["config", "data", "decoded_cache", "archs", "fingerprint"],
    ["models", "ensemble", "rbm", "kernels"],
    ["metrics", "evaluation", "chaos", "analysis", "summary"],
    ["plotting"],
    ["runs"],
    ["sweep"],
    ["cli", "doctor"],
    ["__main__"],
]


def _layer(name: str) -> int | None:
    parts = name.split(".")
    if parts[-1] == "__main__":
        return len(LAYERS) - 1
    if len(parts) < 2:
        return None  # the package __init__ re-exports from every layer
    return next((i for i, layer in enumerate(LAYERS) if parts[1] in layer), None)


def test_imports_go_down_the_layers():
    top, lazy = _graph()
    unplaced = sorted(m for m in top if m != "chaossim" and _layer(m) is None)
    assert not unplaced, f"place these modules in LAYERS (and docs/architecture.md): {unplaced}"
    upward = {(u, v) for u in top for v in top[u] | lazy[u]
              if _layer(u) is not None and _layer(v) is not None and _layer(v) > _layer(u)}
    assert not upward, f"imports up the layers (lazy ones included): {sorted(upward)}"


def _import_all(names: list[str]) -> subprocess.CompletedProcess:
    code = (
        "import importlib, sys\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module(name)\n"
        "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed'))))\n"
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)


def test_the_core_imports_in_a_fresh_interpreter_without_dask():
    core = [m for m in MODULES if not m.startswith("chaossim.sweep") and not m.endswith("__main__")]
    run = _import_all(core)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.split() == [], f"the core imported {run.stdout.split()}: Dask belongs to chaossim.sweep"


def test_every_module_imports_in_a_fresh_interpreter():
    run = _import_all([m for m in MODULES if not m.endswith("__main__")])
    assert run.returncode == 0, run.stderr[-3000:]
