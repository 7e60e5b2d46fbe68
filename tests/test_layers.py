"""Who may import whom (shared/design.md): core ← training ← evaluation ← front doors.

The floors, bottom up:

- the core (every ``verimap`` module below): imports no training, evaluation or front-door module;
- ``verimap.training``: the core only (never evaluation, never a front door);
- ``verimap.evaluation``: the core and training;
- the front doors: the CLI (``verimap.cli``), the server (``verimap.serve``), ``verimap.__main__`` and the two
  adapters (``haystack_integrations``, ``langchain_verimap``). A front door imports no other front door, with two
  exceptions: the CLI may import the server (the ``verimap serve`` command) and ``verimap.__main__`` the CLI. The
  adapters never import each other, the CLI or the server.

Every import counts, also the lazy ones inside functions and those under ``TYPE_CHECKING``; and the module graph
has no cycle. Something two floors or two front doors both need moves down into the core.
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
TRAINING = "verimap.training"
EVALUATION = "verimap.evaluation"
FRONT_DOORS = ("verimap.cli", "verimap.serve", "verimap.__main__", "haystack_integrations", "langchain_verimap")
ALLOWED_DOOR_TO_DOOR = {("verimap.cli", "verimap.serve"), ("verimap.__main__", "verimap.cli")}
"""(importer's front door, imported front door): the only imports from one front door into another."""


def module_name(package: str, folder: Path, path: Path) -> str:
    parts = [package, *path.relative_to(folder).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_names(name: str, path: Path) -> list[str]:
    """Every module name ``path`` (the module ``name``) imports: ``import``, ``from ... import`` (relative ones
    resolved; "from verimap import weights" names verimap.weights) and ``importlib.import_module("...")`` /
    ``verimap.optional.require("...")`` with a literal name."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*parent, *([base] if base else [])])
            found += [f"{base}.{a.name}" for a in node.names]
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", None)) in ("import_module", "require")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append(node.args[0].value)
    return found


def graph() -> dict[str, set[str]]:
    modules: dict[str, Path] = {}
    for package, folder in PACKAGES.items():
        for path in folder.rglob("*.py"):
            modules[module_name(package, folder, path)] = path
    edges: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = set()
        for target in imported_names(name, path):
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
        "verimap.metrics",
        "verimap.build",
        "verimap.serve.settings",
        "verimap.training.trainer",
        "verimap.evaluation.suite",
        "haystack_integrations.components.rankers.verimap.ranker",
        "langchain_verimap._shared",
    } <= set(edges)


def floor(module: str) -> str:
    """``"core"``, ``"training"``, ``"evaluation"`` or the front door (one of :data:`FRONT_DOORS`) ``module`` is in."""
    for door in FRONT_DOORS:
        if under(module, (door,)):
            return door
    if under(module, (TRAINING,)):
        return "training"
    if under(module, (EVALUATION,)):
        return "evaluation"
    return "core"


MAY_IMPORT = {
    "core": {"core"},
    "training": {"core", "training"},
    "evaluation": {"core", "training", "evaluation"},
}
"""What each floor below the front doors may import (front doors: :func:`door_may_import`)."""


def door_may_import(door: str, target_floor: str) -> bool:
    if target_floor in MAY_IMPORT:
        return True
    return target_floor == door or (door, target_floor) in ALLOWED_DOOR_TO_DOOR


def violations(edges: dict[str, set[str]]) -> list[str]:
    found = []
    for module, targets in sorted(edges.items()):
        here = floor(module)
        for target in sorted(targets):
            there = floor(target)
            ok = there in MAY_IMPORT[here] if here in MAY_IMPORT else door_may_import(here, there)
            if not ok:
                found.append(f"{module} ({here}) -> {target} ({there})")
    return found


def test_floors_are_what_the_design_says():
    assert floor("verimap.policy") == floor("verimap.metrics") == floor("verimap.build") == "core"
    assert floor("verimap.training.trainer") == "training"
    assert floor("verimap.evaluation.suite") == "evaluation"
    assert floor("verimap.cli.commands.serve") == "verimap.cli"
    assert floor("verimap.serve.settings") == "verimap.serve"
    assert floor("langchain_verimap.cache") == "langchain_verimap"


def test_no_import_runs_up_a_floor_or_across_front_doors():
    assert violations(graph()) == []


def test_the_rules_catch_what_they_forbid():
    """The checker itself: each forbidden kind of edge is reported, each allowed one is not."""
    forbidden = {
        "verimap.policy": {"verimap.training.data"},  # core -> training
        "verimap.scorers": {"verimap.cli.options"},  # core -> front door
        "verimap.training.trainer": {"verimap.evaluation.suite"},  # training -> evaluation
        "verimap.evaluation.suite": {"verimap.serve.app"},  # evaluation -> front door
        "verimap.serve.settings": {"verimap.cli.options"},  # server -> CLI
        "haystack_integrations.x": {"langchain_verimap.cache"},  # adapter -> adapter
        "langchain_verimap.x": {"verimap.serve.app"},  # adapter -> server
        "haystack_integrations.y": {"verimap.cli"},  # adapter -> CLI
        "verimap.cli.x": {"langchain_verimap"},  # CLI -> adapter
    }
    assert len(violations(forbidden)) == sum(map(len, forbidden.values()))
    allowed = {
        "verimap.evaluation.suite": {"verimap.training.data", "verimap.metrics"},
        "verimap.training.trainer": {"verimap.metrics"},
        "verimap.cli.commands.serve": {"verimap.serve.settings", "verimap.evaluation.bench", "verimap.build"},
        "verimap.__main__": {"verimap.cli"},
        "langchain_verimap.cache": {"verimap.guard", "verimap.shared"},
    }
    assert violations(allowed) == []


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
