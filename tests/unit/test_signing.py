"""Standard Webhooks signing and verification (the reference package signs; we check and rotate)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from outbound.api.signing import SignatureError, new_secret, sign, verify

NOW = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)
BODY = b'{"type": "shipping.dispatched"}'


def _headers(secrets: list[str], body: bytes = BODY, at: datetime = NOW) -> dict[str, str]:
    ts = int(at.timestamp())
    return {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(ts),
        "webhook-signature": " ".join(sign(s, "msg_1", ts, body) for s in secrets),
    }


def test_signature_matches_the_standard_webhooks_test_vector() -> None:
    signed = sign(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1614265330,
        b'{"test": 2432232314}',
    )
    assert signed == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_verify_names_which_candidate_secret_matched_during_a_rotation() -> None:
    old, new, other = new_secret(), new_secret(), new_secret()
    verified = verify(_headers([new]), BODY, [other, old, new], NOW)
    assert (verified.secret_index, verified.webhook_id, verified.timestamp) == (2, "msg_1", NOW)
    both = verify(_headers([old, new]), BODY, [other, old, new], NOW)
    assert both.secret_index == 1


def test_timestamps_are_judged_by_the_injected_clock_five_minutes_both_ways() -> None:
    secret = new_secret()
    late = NOW + timedelta(minutes=5, seconds=1)
    early = NOW - timedelta(minutes=5, seconds=1)
    with pytest.raises(SignatureError, match="more than 5 minutes old"):
        verify(_headers([secret]), BODY, [secret], late)
    with pytest.raises(SignatureError, match="more than 5 minutes in the future"):
        verify(_headers([secret]), BODY, [secret], early)
    assert verify(_headers([secret]), BODY, [secret], NOW + timedelta(minutes=4)).secret_index == 0


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"webhook-id": ""}, "missing webhook-id header"),
        ({"webhook-timestamp": "soon"}, "webhook-timestamp 'soon' is not Unix seconds"),
        ({"webhook-signature": "v2,abc"}, "webhook-signature has no v1 signature"),
        ({"webhook-signature": "v1,not-base64!"}, "signature does not match any secret"),
    ],
)
def test_a_refusal_names_its_reason(change: dict[str, str], reason: str) -> None:
    secret = new_secret()
    with pytest.raises(SignatureError, match=reason):
        verify({**_headers([secret]), **change}, BODY, [secret], NOW)


def test_a_body_that_is_not_utf8_is_refused_with_a_reason() -> None:
    secret = new_secret()
    with pytest.raises(SignatureError, match="body is not UTF-8"):
        verify(_headers([secret]), b"\xff\xfe", [secret], NOW)


def test_an_unusable_stored_secret_is_skipped_not_a_crash() -> None:
    secret = new_secret()
    verified = verify(_headers([secret]), BODY, ["whsec_", "whsec_a", secret], NOW)
    assert verified.secret_index == 2


def test_a_non_ascii_header_is_quoted_once_with_its_bytes_escaped() -> None:
    """``²`` reaches the app as the two latin-1 characters of its UTF-8 bytes."""
    secret = new_secret()
    with pytest.raises(SignatureError) as caught:
        verify({**_headers([secret]), "webhook-timestamp": "\xc2\xb2"}, BODY, [secret], NOW)
    assert str(caught.value).startswith("webhook-timestamp '\\xc2\\xb2' is not Unix seconds")
