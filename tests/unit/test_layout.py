"""The layout's rules, read from the source: which layer may import which, where SQL is built,
and size limits.

``domain <- policy <- services -> store, channels``; the composition root (bootstrap) wires them;
the edges (cli, api, demo) call services and bootstrap, and the process mains (mains) sit on top.
Each rule names the files that break it, so a failure says what to move.
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


EDGES = ("cli", "api", "demo")
ABOVE = (*EDGES, "bootstrap", "mains")  # nothing below the composition root imports these


@pytest.mark.parametrize(
    ("layer", "forbidden"),
    [
        ("domain", _outbound(*{_layer(m) for m in GRAPH} - {"domain", ""})),
        ("policy", (*_outbound("store", "services", "channels", *ABOVE), "sqlalchemy")),
        ("schemas", _outbound("store", "services", "channels", "policy", *ABOVE)),
        ("store", _outbound("policy", "services", "channels", "voice", "scheduling", *ABOVE)),
        ("channels", _outbound("store", "services", "scheduling", *ABOVE)),
        ("voice", _outbound("store", "services", "channels", "scheduling", *ABOVE)),
        ("services", _outbound("channels.log", "scheduling", *ABOVE)),
        ("scheduling", _outbound(*ABOVE)),
        # the composition root builds; it starts no process and serves no request
        ("bootstrap", _outbound(*EDGES, "mains")),
        # the API gets its narrow ApiDeps from the process mains, never the whole App
        ("api", _outbound("bootstrap", "mains", "cli", "demo")),
    ],
)
def test_layers_import_one_way(layer: str, forbidden: tuple[str, ...]) -> None:
    assert _violations(layer, forbidden) == []


def _importers(package: str, allowed: tuple[str, ...]) -> list[str]:
    target = f"outbound.{package}"
    return sorted(
        mod
        for mod, imps in GRAPH.items()
        if _layer(mod) not in (package, *allowed)
        and any(i == target or i.startswith(target + ".") for i in imps)
    )


def test_only_the_cli_demo_and_process_mains_import_bootstrap() -> None:
    assert _importers("bootstrap", ("cli", "demo", "mains")) == []


def test_only_the_cli_imports_the_process_mains() -> None:
    """``outbound serve`` and ``outbound api openapi`` start what ``mains`` holds."""
    assert _importers("mains", ("cli",)) == []


def test_the_edges_reach_the_database_only_through_services() -> None:
    """cli, api and demo call services (``services.storage`` for migrations and readiness),
    never ``outbound.store``."""
    offenders = [v for layer in EDGES for v in _violations(layer, _outbound("store"))]
    assert offenders == []


#: SQLAlchemy's statement and expression builders: only ``store/`` writes SQL
SQL_BUILDERS = frozenset(
    {
        "select", "insert", "update", "delete", "func", "text", "and_", "or_", "not_", "case",
        "literal", "literal_column", "exists", "union", "union_all", "intersect", "except_",
        "bindparam", "column", "table", "true", "false", "null", "tuple_", "cast", "distinct",
        "desc", "asc", "nulls_first", "nulls_last", "over", "lateral", "alias", "join",
        "outerjoin", "values", "Table", "Column", "MetaData", "Index", "ForeignKey",
        "UniqueConstraint", "CheckConstraint", "PrimaryKeyConstraint", "Sequence",
        "within_group", "type_coerce", "collate", "between", "any_", "all_", "extract",
    }
)  # fmt: skip


def _sql_uses(tree: ast.Module) -> Iterator[str]:
    """The SQL-building imports of a module: the table definitions, a builder imported from
    ``sqlalchemy``, anything from ``sqlalchemy.sql`` / ``.dialects``, ``sqlalchemy.<builder>``."""
    aliases = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name == "outbound.store.tables" or a.name.startswith(
                    ("sqlalchemy.sql", "sqlalchemy.dialects")
                ):
                    yield a.name
                elif a.name == "sqlalchemy":
                    aliases.add(a.asname or a.name)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            module, names = node.module, [a.name for a in node.names]
            if module == "outbound.store.tables" or (
                module == "outbound.store" and "tables" in names
            ):
                yield "outbound.store.tables"
            elif module.startswith(("sqlalchemy.sql", "sqlalchemy.dialects")):
                yield f"{module} ({', '.join(names)})"
            elif module == "sqlalchemy":
                yield from (f"sqlalchemy.{n}" for n in names if n in SQL_BUILDERS)
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in aliases
            and node.attr in SQL_BUILDERS
        ):
            yield f"sqlalchemy.{node.attr}"


def test_only_the_store_builds_sql_or_imports_the_tables() -> None:
    """``testing/`` is left out: its throwaway PostgreSQL cluster runs ``CREATE DATABASE`` for
    the tests, and the package stands alone (it may not import ``store``); no product path."""
    offenders = sorted(
        f"{name} uses {use}"
        for name, _, tree in _modules()
        if _layer(name) not in ("store", "testing")
        for use in _sql_uses(tree)
    )
    assert offenders == []


def test_the_sql_check_sees_each_way_of_building_sql() -> None:
    source = """
import sqlalchemy as sa
from sqlalchemy import Connection, Engine, select
from sqlalchemy.dialects.postgresql import insert
from outbound.store import tables
from outbound.store.tables import customers
sa.func.count()
"""
    assert sorted(_sql_uses(ast.parse(source))) == [
        "outbound.store.tables",
        "outbound.store.tables",
        "sqlalchemy.dialects.postgresql (insert)",
        "sqlalchemy.func",
        "sqlalchemy.select",
    ]


def _package_graph() -> dict[str, set[str]]:
    """Top-level package -> the top-level packages it imports (itself and ``outbound`` left out)."""
    graph: dict[str, set[str]] = {}
    for mod, imps in GRAPH.items():
        source = _layer(mod)
        if not source:
            continue
        targets = {_layer(i) for i in imps if i.startswith("outbound.")}
        graph.setdefault(source, set()).update(targets - {source, ""})
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle as its packages (first repeated at the end), or [] when there is none."""
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> list[str]:
        if node in path:
            return [*path[path.index(node) :], node]
        if node in done:
            return []
        for nxt in sorted(graph.get(node, ())):
            found = visit(nxt, [*path, node])
            if found:
                return found
        done.add(node)
        return []

    for start in sorted(graph):
        found = visit(start, [])
        if found:
            return found
    return []


def test_no_import_cycle_between_top_level_packages() -> None:
    cycle = _cycle(_package_graph())
    assert cycle == [], " -> ".join(cycle)


def _service_group(module: str) -> str:
    """``outbound.services.send.notify`` -> ``send``; a loose module is its own group."""
    parts = module.split(".")
    return parts[2] if len(parts) > 2 and parts[1] == "services" else ""


def test_no_import_cycle_between_the_use_case_groups_of_services() -> None:
    graph: dict[str, set[str]] = {}
    for mod, imps in GRAPH.items():
        source = _service_group(mod)
        if source:
            targets = {_service_group(i) for i in imps if i.startswith("outbound.services.")}
            graph.setdefault(source, set()).update(targets - {source, ""})
    cycle = _cycle(graph)
    assert cycle == [], " -> ".join(cycle)


def test_the_cycle_finder_names_a_loop_and_passes_a_chain() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) == []


def test_services_keeps_at_most_ten_modules_loose_at_its_top() -> None:
    """The rest live in a subpackage per use case (send/, people/, campaigns/, views/, …)."""
    loose = sorted(p.name for p in (PACKAGE / "services").glob("*.py") if p.name != "__init__.py")
    assert len(loose) <= 10, loose


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
