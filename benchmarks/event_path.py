"""The files one webhook event passes through: ``python -m benchmarks.event_path [--json]``.

One ``shipping.dispatched`` event for a known customer goes through ``api/events.handle`` in a
transaction on a fresh SQLite file, under ``sys.setprofile`` (``outbound.testing.callpath``),
after one warm-up event (imports and per-process caches done, as in a running server). Prints
the files in the order they are first entered, each with its layer, and the calls that enter a
file again (``revisits``) or go up a layer (``climbs``).

Layers, top down: ``api`` → ``services`` → ``store``. ``domain``, ``policy``, ``schemas``,
``config``, ``observability`` and ``channels`` are pure helpers any layer may call: they are on
the path (and may be revisited no more than any other file) but have no rank, so a call into
or out of them is never a climb.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from outbound import bootstrap
from outbound.api import events
from outbound.config import load_settings
from outbound.mains.serve import api_deps
from outbound.schemas.customers import validate_record
from outbound.services.people.customers import upsert_customer
from outbound.store.db import make_engine, upgrade
from outbound.testing.callpath import CallPath, Step, trace

PACKAGE = Path(__file__).resolve().parent.parent / "outbound"
CONFIG_DIR = PACKAGE.parent / "config"
#: the ranked layers, top down; any other package is a helper
RANKS = {"api": 0, "services": 1, "store": 2}
#: the layers whose files the path may enter once only: the ranked ones, the composition root
#: and the input models (a payload is parsed once)
CHECKED = (*RANKS, "bootstrap", "schemas")
#: Thursday 2026-11-26 15:00 UTC, 10:00 in New York: the SMS goes now
NOW = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)
PHONE = "+12125550123"


def layer(file: str) -> str:
    """``outbound/store/outbox.py`` -> ``store``."""
    parts = file.split("/")
    return parts[1] if len(parts) > 2 else ""


@dataclass(frozen=True)
class Report:
    files: list[str]  # every file entered, helpers included, in the order first entered
    revisits: list[Step]
    climbs: list[Step]  # a call from a ranked layer into a higher one

    @property
    def checked(self) -> list[str]:
        """The files of the ``CHECKED`` layers."""
        return [f for f in self.files if layer(f) in CHECKED]

    def as_dict(self) -> dict[str, Any]:
        return {
            "files": [{"file": f, "layer": layer(f)} for f in self.files],
            "revisits": [_step(s) for s in self.revisits],
            "climbs": [_step(s) for s in self.climbs],
        }


def _step(s: Step) -> str:
    return f"{s.caller} -> {s.callee}:{s.function}" + (
        " (while still open)" if s.while_open else ""
    )


def report(path: CallPath) -> Report:
    climbs = [
        s
        for s in path.steps
        if layer(s.caller) in RANKS
        and layer(s.callee) in RANKS
        and RANKS[layer(s.callee)] < RANKS[layer(s.caller)]
    ]
    revisits = [s for s in path.revisits if layer(s.callee) in CHECKED]
    return Report(path.files, revisits, climbs)


def shipping(order: str) -> Any:
    return events.EVENT.validate_python(
        {
            "type": "shipping.dispatched",
            "data": {
                "customer": "C1",
                "order_id": order,
                "carrier": "DHL",
                "tracking_no": f"T-{order}",
                "eta": "2026-11-28",
            },
        }
    )


def follow(
    app: bootstrap.App, source: str = "shop", *, warm: bool = True
) -> tuple[dict[str, Any], CallPath]:
    """Handle a warm-up event (unless ``warm`` is false), then trace one more; ``app`` must know
    customer ``C1``."""
    deps = api_deps(app)
    if warm:
        with app.engine.begin() as conn:
            events.handle(conn, deps, shipping("WARM"), source)

    def one() -> dict[str, Any]:
        with app.engine.begin() as conn:
            return events.handle(conn, deps, shipping("A1"), source)

    return trace(one, PACKAGE)


def add_customer(app: bootstrap.App) -> None:
    raw = {"external_id": "C1", "phone": PHONE, "locale": "en-US"}
    with app.engine.begin() as conn:
        upsert_customer(conn, validate_record(raw), now=app.clock(), actor="bench", source="bench")


def _main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.event_path", description=__doc__)
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--cold",
        action="store_true",
        help="trace the process's first event (caches empty) instead of a warm one",
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'outbound.db'}"
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        settings = load_settings(CONFIG_DIR, {"database": {"url": url}}, environ={})
        app = bootstrap.build(settings, clock=lambda: NOW)
        try:
            add_customer(app)
            body, path = follow(app, warm=not args.cold)
        finally:
            app.close()
    found = report(path)
    if args.json:
        print(json.dumps({"response": body, **found.as_dict()}, indent=2))
        return
    print(
        f"{len(found.checked)} files of {', '.join(CHECKED)} ({len(found.files)} with the "
        f"helpers); {len(found.revisits)} revisits, {len(found.climbs)} climbs"
    )
    for i, f in enumerate(found.files, 1):
        print(f"{i:3} {layer(f):<14} {f}" + ("" if layer(f) in CHECKED else "  (helper)"))
    for title, steps in (("revisits", found.revisits), ("climbs", found.climbs)):
        if steps:
            print(f"{title}:")
            print("\n".join(f"    {_step(s)}" for s in steps))


if __name__ == "__main__":
    _main()
