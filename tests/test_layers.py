"""The packages draw the architecture, and this test keeps them honest (like the Lua contract
test keeps the scripts and the Python side honest): ``queue/`` holds every Redis call about queues
and imports no layer above it; ``process/`` is a tool any layer may import, so it imports none.
Read from the source (``ast``), so a lazy import inside a function counts too."""

import ast
import functools
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "sluicegate"

# redis-py methods that only ever mean a Redis command (``exists``, ``get``, ``set`` and
# ``delete`` also name Path and dict methods: those are caught by the key-name rule below).
REDIS_COMMANDS = {
    "xadd", "xreadgroup", "xread", "xack", "xdel", "xlen", "xrange", "xrevrange", "xtrim",
    "xpending", "xpending_range", "xautoclaim", "xclaim", "xinfo_stream", "xinfo_groups",
    "xinfo_consumers", "xgroup_create", "xgroup_delconsumer", "xgroup_destroy",
    "hset", "hget", "hmget", "hgetall", "hincrby", "hdel", "mget", "pttl", "pexpire",
    "register_script", "execute_command", "evalsha", "pipeline",
}  # fmt: skip
# Modules outside queue/ allowed to speak Redis about queues, and why.
EXEMPT = {
    # The drill is the auditor: it reads the streams itself on purpose, so that a bug in how
    # queue/ reads or acknowledges entries cannot also blind the check (see its docstring).
    "drill/observe.py",
    # Asks the cluster which node owns a queue's slot (CLUSTER topology, not the queue's keys).
    "drill/cluster.py",
    # Administers a local cluster's servers (CLUSTER commands, INFO): no queue's keys.
    "embedded/cluster.py",
    # Asks a local sentinel setup where its primary is (SENTINEL commands, INFO): no queue's keys.
    "embedded/sentinel.py",
}
HIGHER_LAYERS = ("sluicegate.worker", "sluicegate.api", "sluicegate.drill", "sluicegate.cli")


def modules(under: str = "") -> Iterator[tuple[str, ast.Module]]:
    prefix = f"{under}/" if under else ""
    yield from ((path, tree) for path, tree in parsed() if path.startswith(prefix))


@functools.cache
def parsed() -> tuple[tuple[str, ast.Module], ...]:
    """Every module of the package, parsed once per test process (each test walks them all)."""
    return tuple(
        (path.relative_to(PACKAGE).as_posix(), ast.parse(path.read_text(), str(path)))
        for path in sorted(PACKAGE.rglob("*.py"))
    )


def imported(tree: ast.Module) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def redis_uses(tree: ast.Module) -> set[str]:
    """Redis command methods called, and queue key names built (``keys.stream_key`` …)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and called_name(node) in REDIS_COMMANDS:
            found.add(f".{called_name(node)}()")
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            found.update({f"keys.{node.attr}"} if is_key_use(node.value.id, node.attr) else ())
        if isinstance(node, ast.ImportFrom) and node.module == "sluicegate.queue.keys":
            found.update(f"keys.{a.name}" for a in node.names if is_key_name(a.name))
    return found


def called_name(call: ast.Call) -> str:
    return call.func.attr if isinstance(call.func, ast.Attribute) else ""


def is_key_use(owner: str, name: str) -> bool:
    return owner == "keys" and is_key_name(name)


def is_key_name(name: str) -> bool:
    return name.endswith(("_key", "_keys")) or name == "CONSUMER_GROUP"


def test_queue_imports_no_higher_layer():
    wrong = {
        path: sorted(name for name in imported(tree) if name.startswith(HIGHER_LAYERS))
        for path, tree in modules("queue")
    }
    assert {path: names for path, names in wrong.items() if names} == {}


@pytest.mark.parametrize(
    ("package", "above"),
    [
        ("destination", (*HIGHER_LAYERS,)),  # worker/ -> destination/ -> repository/
        ("repository", (*HIGHER_LAYERS, "sluicegate.destination")),
    ],
)
def test_destinations_sit_between_the_worker_and_the_repositories(package, above):
    wrong = {
        path: sorted(name for name in imported(tree) if name.startswith(above))
        for path, tree in modules(package)
    }
    assert {path: names for path, names in wrong.items() if names} == {}


def test_process_tools_import_nothing_of_sluicegate():
    wrong = {
        path: sorted(n for n in imported(t) if n.startswith("sluicegate"))
        for path, t in modules("process")
    }
    assert {path: names for path, names in wrong.items() if names} == {}


def test_only_queue_speaks_redis_about_queues():
    speaking = {
        path: sorted(redis_uses(tree))
        for path, tree in modules()
        if not path.startswith("queue/") and path not in EXEMPT
    }
    assert {path: uses for path, uses in speaking.items() if uses} == {}


@pytest.mark.parametrize("path", sorted(EXEMPT))
def test_every_exemption_is_still_needed(path):
    tree = ast.parse((PACKAGE / path).read_text())
    assert redis_uses(tree), f"{path} no longer speaks Redis about queues: drop its exemption"


def test_the_checks_see_a_redis_command_and_a_key_name():
    tree = ast.parse("from sluicegate.queue import keys\nclient.xack(keys.stream_key(q), 'g', i)")
    assert redis_uses(tree) == {".xack()", "keys.stream_key"}
    assert imported(ast.parse("def f():\n    from sluicegate.worker import agent")) == {
        "sluicegate.worker.agent"
    }


def module_imports(package: str) -> dict[str, set[str]]:
    """``package``'s modules and the modules of it each imports (TYPE_CHECKING ones included)."""
    names = {f"sluicegate.{path[:-3].replace('/', '.')}" for path, _ in modules(package)}
    graph: dict[str, set[str]] = {}
    for path, tree in modules(package):
        found = {name if name in names else name.rpartition(".")[0] for name in imported(tree)}
        graph[f"sluicegate.{path[:-3].replace('/', '.')}"] = found & names
    return graph


def test_the_drill_modules_import_no_cycle():
    graph = module_imports("drill")
    done: set[str] = set()

    def visit(module: str, path: tuple[str, ...]) -> None:
        assert module not in path, f"import cycle: {' -> '.join((*path, module))}"
        if module not in done:
            for imported_module in graph[module]:
                visit(imported_module, (*path, module))
            done.add(module)

    for module in graph:
        visit(module, ())


def top_level_imports(tree: ast.Module) -> set[str]:
    """Modules imported when the module itself is (not inside a function or TYPE_CHECKING)."""
    names = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_deltalake_is_loaded_only_inside_the_delta_destinations_calls():
    """deltalake's runtime does not survive a fork: no module imports it (or arro3) at import
    time, so the agent, which imports the destination's options, never loads it."""
    lake = ("deltalake", "arro3")
    at_import, users = {}, set()
    for path, tree in modules():  # one parse of the package
        at_import[path] = sorted(n for n in top_level_imports(tree) if n.startswith(lake))
        users.update([path] if any(n.startswith(lake) for n in imported(tree)) else [])
    assert {path: names for path, names in at_import.items() if names} == {}
    assert users
    assert all(path.startswith("destination/") for path in users), users
