"""Reports for people at the terminal: a customer's one history, and ``why`` in plain words."""

from __future__ import annotations

import json
from typing import Any

from outbound.cli.output import clean, human, table
from outbound.services.reports import verdict


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
    cons = table(
        ["at", "action", "channel", "purpose", "written", "source", "evidence"],
        [list(c.values()) for c in data["consents"]],
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
    """What ``outbound why`` prints; ``plain`` (no terminal colour) for the console's page."""
    lines = [
        f"notification {data['id']}: {data['kind']} ({data['purpose']}) for customer "
        f"{clean(str(data['customer']))}",
        f"status {data['status']}; created {data['created_at']:%Y-%m-%d %H:%M UTC} via "
        f"{clean(str(data['source']))}; "
        f"expires {data['expires_at']:%Y-%m-%d %H:%M UTC}"
        if data["expires_at"]
        else f"status {data['status']}",
    ]
    for i, decision in enumerate(data["decisions"], start=1):
        lines.append(
            f"\ndecision {i} (rung {decision['rung']}, {decision['at']}): {verdict(decision)}"
        )
        for step in decision["trace"]:
            mark = "ok " if step["ok"] else "NO "
            where = f"[{step['channel']}] " if step["channel"] else ""
            lines.append(f"  {mark} {step['rule']:<12} {where}{clean(str(step['detail']))}")
    if data["deliveries"]:
        lines.append("")
        lines.append(
            table(
                ["delivery", "channel", "rung", "status", "outcome", "attempts", "due"],
                [
                    [
                        d["id"],
                        d["channel"],
                        d["rung"],
                        d["status"],
                        d["outcome"],
                        d["attempts"],
                        d["due_at"],
                    ]
                    for d in data["deliveries"]
                ],
                title="deliveries",
                plain=plain,
            )
        )
    return "\n".join(lines)
