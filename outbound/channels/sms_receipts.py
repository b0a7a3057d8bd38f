"""SMPP delivery receipts: the ``deliver_sm`` an SMSC sends when a message reached its end.

The message id and state come from the ``receipted_message_id`` / ``message_state`` TLVs when
present, else from the de-facto text format (SMPP 3.4 Appendix B)::

    id:M000001 sub:001 dlvrd:001 submit date:2611261500 done date:2611261500 stat:DELIVRD err:000
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from outbound.domain.values import Outcome

#: final receipt states -> outcome; UNDELIV and EXPIRED move the fallback ladder
STATES: dict[str, Outcome] = {
    "DELIVRD": Outcome.DELIVERED,
    "UNDELIV": Outcome.FAILED,
    "EXPIRED": Outcome.FAILED,
    "DELETED": Outcome.FAILED,
    "UNKNOWN": Outcome.FAILED,
    "REJECTD": Outcome.REJECTED,
}
#: SMPP message_state TLV values (5.2.28)
TLV_STATES = {2: "DELIVRD", 3: "EXPIRED", 4: "DELETED", 5: "UNDELIV", 7: "UNKNOWN", 8: "REJECTD"}

_FIELD = re.compile(r"(id|stat|err):(\S+)", re.IGNORECASE)


@dataclass(frozen=True)
class Receipt:
    ref: str
    state: str  # DELIVRD, UNDELIV, EXPIRED, …; ENROUTE/ACCEPTD are not final
    error: str = ""

    @property
    def outcome(self) -> Outcome | None:
        """The final outcome, or None for an intermediate state."""
        return STATES.get(self.state.upper())


def _str(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("latin-1").rstrip("\x00")
    return "" if value is None else str(value)


def parse_receipt(pdu: Any, payload: bytes) -> Receipt:
    fields = {k.lower(): v for k, v in _FIELD.findall(payload.decode("latin-1", "replace"))}
    ref = _str(getattr(pdu, "receipted_message_id", None)) or fields.get("id", "")
    state_code = getattr(pdu, "message_state", None)
    state = TLV_STATES.get(int(state_code), "") if state_code else ""
    return Receipt(ref, state or fields.get("stat", "UNKNOWN").upper(), fields.get("err", ""))
