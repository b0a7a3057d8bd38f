"""Intake's check of push subscriptions: where ``[push]`` allows a push request to go.

``customer.upserted`` and customer imports refuse a subscription whose Web Push endpoint is
not https to an allowed push service on a public address (``file:///etc/passwd``,
``http://169.254.169.254/…``), or whose FCM token is a URL, with the field, the endpoint masked
and the rule; the push adapter checks again at send, as it connects (see push_http).
"""

from __future__ import annotations

from outbound.domain.customers import CustomerRecord
from outbound.domain.errors import FieldProblem
from outbound.domain.masking import mask_endpoint
from outbound.domain.push_targets import PushTargets


def endpoint_problems(
    record: CustomerRecord, targets: PushTargets, *, prefix: str = ""
) -> list[FieldProblem]:
    """One problem per refused subscription, named ``{prefix}push_subscriptions[i].endpoint``
    as the schema names its other problems (a CSV ``push_token`` is the last subscription)."""
    out: list[FieldProblem] = []
    for i, (kind, endpoint) in enumerate(record.push_endpoints):
        problem = targets.endpoint_problem(kind, endpoint)
        if problem is not None:
            field = f"{prefix}push_subscriptions[{i}].endpoint"
            out.append(FieldProblem(field, mask_endpoint(endpoint), problem))
    return out
