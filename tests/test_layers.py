"""Who may import whom (shared/design.md): core ← training / evaluation ← front doors (CLI, the server, the two adapters).

Every import counts, also the lazy ones inside functions: the module graph has no cycle, the core imports no
training, evaluation, CLI or adapter module, and training / evaluation import no front door.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {
    "verimap": ROOT / "src" / "verimap",
    "haystack_integrations": ROOT / "integrations" / "haystack" / "haystack_integrations",
    "langchain_verimap": ROOT / "integrations" / "langchain" / "langchain_verimap",
}
FRONT_DOORS = ("verimap.cli", "verimap.serve", "verimap.__main__", "haystack_integrations", "langchain_verimap")
MIDDLE = ("verimap.training", "verimap.evaluation")


def module_name(package: str, folder: Path, path: Path) -> str:
    parts = [package, *path.relative_to(folder).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def graph() -> dict[str, set[str]]:
    modules: dict[str, Path] = {}
    for package, folder in PACKAGES.items():
        for path in folder.rglob("*.py"):
            modules[module_name(package, folder, path)] = path
    edges: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                # "from verimap import weights" imports the module verimap.weights
                found = [f"{node.module}.{a.name}" for a in node.names]
            else:
                found = []
            for target in found:
                # the longest of our modules that the import names ("verimap.policy" for "verimap.policy.X")
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    targets.add(target)
        edges[name] = targets
    return edges


def under(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def test_the_graph_covers_every_part():
    edges = graph()
    assert {
        "verimap.policy",
        "verimap.cli",
        "verimap.cli.commands.search",
        "verimap.evaluation.metrics",
        "haystack_integrations.components.rankers.verimap.ranker",
        "langchain_verimap._shared",
    } <= set(edges)


def test_no_import_runs_up_a_layer():
    upward = []
    for module, targets in graph().items():
        if under(module, FRONT_DOORS):
            continue
        banned = FRONT_DOORS if under(module, MIDDLE) else FRONT_DOORS + MIDDLE
        upward += [f"{module} -> {t}" for t in targets if under(t, banned)]
    assert upward == []


def test_the_adapters_do_not_import_each_other():
    edges = graph()
    assert not [
        (m, t)
        for m, ts in edges.items()
        for t in ts
        if under(m, ("haystack_integrations",))
        and under(t, ("langchain_verimap",))
        or under(m, ("langchain_verimap",))
        and under(t, ("haystack_integrations",))
    ]


def test_the_import_graph_has_no_cycle():
    edges = graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(path[path.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert cycles == []
