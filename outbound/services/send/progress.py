"""How far sending got, for a run that watches its workers drain the queue (the demo).

Read-only; the rows come from ``outbound.store.progress``.
"""

from __future__ import annotations

from outbound.store import audit
from outbound.store import progress as rows

notification_count = rows.notification_count
due_count = rows.due_count
any_awaiting_receipt = rows.any_awaiting_receipt
any_queued_due = rows.any_queued_due
deliveries_with_notification = rows.deliveries_with_notification
all_notifications = rows.all_notifications
finished_calls = rows.finished_calls
revoked_customers = rows.revoked_customers
#: the audit chain checked from its start (the demo's last word)
verify_audit_chain = audit.verify
