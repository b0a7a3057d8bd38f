"""Reports for people at the terminal: a customer's one history, and ``why`` in plain words."""

from __future__ import annotations

import json
import sys
from typing import Any

from outbound.cli.output import human, table
from outbound.services.views.explain import explain as decision_text


def render_customer(data: dict[str, Any]) -> str:
    head = [
        f"{k:>12}: {human(data[k])}"
        for k in (
            "id",
            "external_id",
            "name",
            "phone",
            "country",
            "timezone",
            "locale",
            "preference",
            "membership",
            "wishlist",
            "push_subscriptions",
            "suppressions",
        )
    ]
    columns = ["at", "action", "channel", "purpose", "written", "source", "evidence"]
    cons = table(
        columns,
        [[c[k] for k in columns] for c in data["consents"]],
        title="\nconsent ledger",
    )
    hist = table(
        [
            "notif",
            "kind",
            "status",
            "delivery",
            "channel",
            "rung",
            "d.status",
            "outcome",
            "due",
            "updated",
        ],
        [list(h.values()) for h in data["history"]],
        title="\nhistory (all channels)",
    )
    events = table(
        ["seq", "at", "action", "subject", "actor", "detail"],
        [
            [e["seq"], e["at"], e["action"], e["subject"], e["actor"], brief(e["data"])]
            for e in data["events"]
        ],
        title="\naudit trail (consent, inbound messages, receipts, outcomes)",
    )
    return "\n".join([*head, cons, hist, events])


def brief(data: Any, width: int = 70) -> str:
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)
    return text if len(text) <= width else text[: width - 1] + "…"


def explain(data: dict[str, Any], *, plain: bool = False) -> str:
    """What ``outbound why`` prints (``outbound.services.views.explain``, coloured on a terminal)."""
    return decision_text(data, terminal=not plain and sys.stdout.isatty())
