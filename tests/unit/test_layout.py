"""The layout's rules, read from the source: which layer may import which, and size limits.

``domain <- policy <- services -> store, channels``; the edges (cli, api, demo) and the process
mains (bootstrap) sit on top. Each rule names the files that break it, so a failure says what
to move.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "outbound"
MIGRATIONS = PACKAGE / "store" / "migrations"  # landed migrations are history: never edited


def _modules() -> Iterator[tuple[str, Path, ast.Module]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        if "node_modules" in path.parts:
            continue
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        name = ".".join(rel.parts).removesuffix(".__init__")
        yield name, path, ast.parse(path.read_text(encoding="utf-8"))


def _imports(tree: ast.Module) -> Iterator[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            if node.module == "outbound":
                yield from (f"outbound.{a.name}" for a in node.names)


GRAPH = {name: set(_imports(tree)) for name, _, tree in _modules()}


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _violations(layer: str, forbidden: tuple[str, ...]) -> list[str]:
    return sorted(
        f"{mod} imports {imp}"
        for mod, imps in GRAPH.items()
        if _layer(mod) == layer
        for imp in imps
        if any(imp == f or imp.startswith(f + ".") for f in forbidden)
    )


def _outbound(*layers: str) -> tuple[str, ...]:
    return tuple(f"outbound.{layer}" for layer in layers)


EDGES = ("cli", "api", "demo", "bootstrap")


@pytest.mark.parametrize(
    ("layer", "forbidden"),
    [
        ("domain", _outbound(*{_layer(m) for m in GRAPH} - {"domain", ""})),
        ("policy", (*_outbound("store", "services", "channels", *EDGES), "sqlalchemy")),
        ("schemas", _outbound("store", "services", "channels", "policy", *EDGES)),
        ("store", _outbound("policy", "services", "channels", "voice", "scheduling", *EDGES)),
        ("channels", _outbound("store", "services", "scheduling", *EDGES)),
        ("voice", _outbound("store", "services", "channels", "scheduling", *EDGES)),
        ("services", _outbound("channels.log", "scheduling", *EDGES)),
        ("scheduling", _outbound(*EDGES)),
    ],
)
def test_layers_import_one_way(layer: str, forbidden: tuple[str, ...]) -> None:
    assert _violations(layer, forbidden) == []


def test_only_the_edges_and_process_mains_import_bootstrap() -> None:
    offenders = sorted(
        mod
        for mod, imps in GRAPH.items()
        if _layer(mod) not in EDGES
        and any(i == "outbound.bootstrap" or i.startswith("outbound.bootstrap.") for i in imps)
    )
    assert offenders == []


def test_the_production_path_reaches_the_loopback_peers_only_through_the_demo() -> None:
    offenders = sorted(
        mod
        for mod, imps in GRAPH.items()
        if _layer(mod) not in ("demo", "testing")
        and any(i.startswith("outbound.testing") for i in imps)
    )
    assert offenders == []


def test_testing_package_stands_alone() -> None:
    """The loopback peers import nothing of outbound outside themselves (tests and the demo
    use them; they use nothing of the product) — except one leaf: the callee reads its
    recording with ``voice.tap``, which itself imports nothing of outbound."""
    assert not any(i.startswith("outbound.") for i in GRAPH["outbound.voice.tap"])
    shared_leaf = "outbound.testing.callee imports outbound.voice.tap"
    found = _violations("testing", _outbound(*{_layer(m) for m in GRAPH} - {"testing", ""}))
    assert [v for v in found if v != shared_leaf] == []


HEAVY = [
    ("pjsua2", "outbound.voice.sip"),
    ("pjsua2", "outbound.testing.callee"),  # a separate peer process, not the product
    ("vosk", "outbound.voice.asr"),
    ("gtts", "outbound.voice.tts"),
    ("apscheduler", "outbound.scheduling"),
]


@pytest.mark.parametrize(("library", "home"), HEAVY)
def test_each_heavy_library_is_imported_in_one_place(library: str, home: str) -> None:
    users = sorted(
        mod
        for mod, imps in GRAPH.items()
        if any(i == library or i.startswith(library + ".") for i in imps)
    )
    homes = {h for lib, h in HEAVY if lib == library}
    assert users and all(any(u == h or u.startswith(h + ".") for h in homes) for u in users), users


def test_only_a_handful_of_modules_sit_at_the_top_of_the_package() -> None:
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert top == ["__init__.py", "__main__.py"]


def test_no_module_over_400_lines_and_no_function_over_60() -> None:
    too_long: list[str] = []
    for name, path, tree in _modules():
        if MIGRATIONS in path.parents:
            continue
        lines = path.read_text(encoding="utf-8").count("\n")
        if lines > 400:
            too_long.append(f"{name}: {lines} lines")
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > 60:
                    too_long.append(f"{name}.{node.name}: {length} lines")
    assert too_long == []
