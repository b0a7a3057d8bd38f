"""SMS provider switches (taken out of the routes, put back) go to the audit trail."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine

from outbound.channels.sms_routes import Switch
from outbound.store import audit


@dataclass
class SwitchAudit:
    engine: Engine
    clock: Callable[[], datetime]

    def __call__(self, switch: Switch) -> None:
        action = "provider.out" if switch.action == "out" else "provider.back"
        event = audit.Event(
            "routes", action, f"sms-provider:{switch.provider}", {"reason": switch.reason}
        )
        with self.engine.begin() as conn:
            audit.append(conn, [event], self.clock())
