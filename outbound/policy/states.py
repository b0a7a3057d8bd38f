"""Which US state a customer is in, for state calling windows: the profile's ``state``, else
the area code of the number (libphonenumber's geocoder names the state of a NANP prefix).

A toll-free or unknown prefix gives no state; then only the federal rules apply, which is what
a caller who cannot know the state can do. A profile state always wins: people keep their
number when they move.
"""

from __future__ import annotations

import functools

import phonenumbers

from outbound.domain.us_states import STATE_CODES, US_STATES


@functools.cache
def state_of_number(phone_e164: str) -> str | None:
    """``+13055550123`` -> ``FL``; ``None`` outside the US or for a prefix without a state."""
    try:
        number = phonenumbers.parse(phone_e164, None)
    except phonenumbers.NumberParseException:
        return None
    if phonenumbers.region_code_for_number(number) != "US":
        return None
    from phonenumbers import geocoder  # ~0.5 s of place names: loaded by the first US number

    place = geocoder.description_for_number(number, "en")
    if ", " in place:  # "New York, NY"
        code = place.rsplit(", ", 1)[1]
        return code if code in STATE_CODES else None
    return US_STATES.get(place)


def customer_state(profile_state: str | None, phone_e164: str | None) -> str | None:
    if profile_state:
        return profile_state.upper()
    return state_of_number(phone_e164) if phone_e164 else None
