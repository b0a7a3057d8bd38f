"""The webhook sources that may post now, and the receipt of every delivery they made.

A delivery's receipt (source, ``webhook-id``, body digest, answer) is written in the
transaction of the event it carried, so a retried delivery is answered from its receipt
(a replay) and never applied twice. The API's edges call these; ``outbound.store.sources``
holds the rows.
"""

from __future__ import annotations

from outbound.store import sources as rows

#: an active source with its live signing secrets (newest first)
Source = rows.Source
#: the active sources with their live secrets, by id
active_sources = rows.active_sources
#: the receipt of one (source id, webhook-id), or None
find_receipt = rows.find_receipt
#: the receipts that exist among many (source id, webhook-id) keys
find_receipts = rows.find_receipts
#: a receipt as ``store_receipts`` writes it
receipt_row = rows.receipt_row
#: write one receipt
store_receipt = rows.store_receipt
#: write many receipts (one statement for a group of events)
store_receipts = rows.store_receipts
