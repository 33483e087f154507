"""The shape of the house: hubrl's modules import each other in one direction only."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "hubrl"


def module_imports() -> dict[str, set[str]]:
    """Every hubrl module and the hubrl modules it imports anywhere (function-level imports included)."""
    graph = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        deps = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("hubrl."):
                deps.add(node.module)
            elif isinstance(node, ast.Import):
                deps |= {alias.name for alias in node.names if alias.name.startswith("hubrl.")}
        graph[name] = deps
    return graph


def test_no_import_cycles():
    graph = module_imports()
    cycles, done = [], set()

    def visit(module: str, path: list[str]) -> None:  # depth first; a module on the current path closes a cycle
        for dep in sorted(graph.get(module, ())):
            if dep in path:
                cycles.append(" -> ".join(path[path.index(dep):] + [dep]))
            elif dep not in done:
                visit(dep, path + [dep])
        done.add(module)

    for module in sorted(graph):
        if module not in done:
            visit(module, [module])
    assert not cycles, cycles


def test_collection_and_inference_know_nothing_of_training():
    graph = module_imports()
    for module in ("hubrl.episodes", "hubrl.collect", "hubrl.policy", "hubrl.evaluate", "hubrl.video"):
        assert not graph[module] & {"hubrl.reinforce", "hubrl.training", "hubrl.network", "hubrl.checkpoint"}, module


def test_the_algorithm_knows_nothing_of_its_loop():
    """reinforce.py is the maths of one update: the loop, its state and checkpoints sit above it."""
    graph = module_imports()
    assert not graph["hubrl.reinforce"] & {"hubrl.training", "hubrl.checkpoint", "hubrl.envs", "hubrl.episodes"}
    assert "hubrl.reinforce" in graph["hubrl.training"]
