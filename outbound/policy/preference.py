"""The channel ladder: which channels to try, in which order, for one notification."""

from __future__ import annotations

from collections.abc import Iterable

from outbound.domain.values import KIND_CHANNELS, Channel, Kind


def channel_ladder(
    kind: Kind, preference: Iterable[Channel], tried: Iterable[Channel] = ()
) -> tuple[Channel, ...]:
    """The customer's ranked channels that ``kind`` allows, minus those already tried.

    A customer without a preference gets the kind's default order. A preference naming only
    channels the kind does not allow yields an empty ladder (we do not invent channels the
    customer ranked out).
    """
    allowed = KIND_CHANNELS[kind]
    ranked = tuple(dict.fromkeys(preference))
    order = tuple(c for c in ranked if c in allowed) if ranked else allowed
    done = frozenset(tried)
    return tuple(c for c in order if c not in done)
