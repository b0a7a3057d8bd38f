"""What a customer asked for during a robot call, applied in the outcome's transaction.

An opt-out (key or speech) revokes voice consent and puts the customer on the internal
do-not-call list at once; a request for the link by SMS becomes a follow-up notification that
goes by SMS whatever the customer's preference, still under consent, quiet hours and caps.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from outbound.domain.values import Channel, ConsentAction, Purpose, SendResult
from outbound.policy.model import Rules
from outbound.services.people.customers import add_consent, add_suppression
from outbound.services.send.planning import enqueue
from outbound.store import outbox
from outbound.store.notifications import NewNotification
from outbound.store.outbox import Claimed


def apply_actions(
    conn: Connection,
    claimed: Claimed,
    result: SendResult,
    *,
    rules: Rules,
    now: datetime,
    actor: str,
) -> None:
    """In-call opt-out and SMS-link requests, in the caller's (the outcome's) transaction."""
    actions = result.detail.get("actions") or []
    if "opt_out" in actions:
        add_consent(
            conn,
            claimed.customer_id,
            Channel.VOICE,
            None,
            ConsentAction.REVOKE,
            source="voice",
            evidence=f"in-call opt-out on delivery#{claimed.delivery_id} "
            f"(dtmf {result.detail.get('dtmf')!r}, intent {result.detail.get('intent')!r}; "
            "the transcript is kept on the delivery)",
            actor=actor,
            now=now,
        )
        add_suppression(conn, claimed.customer_id, "in-call opt-out", actor=actor, now=now)
    if "send_sms_link" in actions:
        note = outbox.notifications_by_id(conn, [claimed.notification_id])[claimed.notification_id]
        follow = NewNotification(
            kind=claimed.kind,
            purpose=Purpose(note.purpose),
            customer_id=claimed.customer_id,
            payload=dict(note.payload),
            dedupe_key=f"{note.dedupe_key}:sms_link",
            expires_at=note.expires_at,
            source=f"voice:delivery#{claimed.delivery_id}",
            channels=(Channel.SMS,),  # the customer asked for the link by SMS
        )
        enqueue(conn, [follow], rules=rules, now=now, actor=actor)
