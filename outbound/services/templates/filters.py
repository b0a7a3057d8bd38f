"""Values as a customer's locale writes them (Babel / CLDR): the template filters.

``{{ new_price|format_currency(currency) }}`` -> ``99,90 €`` (fr), ``€99.90`` (en); the
currency decides the decimals (JPY none, KWD three). ``{{ eta|format_date }}`` -> ``9. Dezember
2026`` (de), ``2026年12月9日`` (ja). ``{{ expires_on|relative }}`` -> ``in 3 days`` /
``dans 3 jours`` (CLDR plural rules). ``{{ 1234.5|format_decimal }}`` -> ``1.234,5`` (de).

A price stays a ``Decimal`` from the payload (stored as a decimal string) to the text: a float
never appears. Every function takes the Babel locale first; ``loader`` binds it per render.
Results are cached: a campaign repeats the same few dates and prices thousands of times.
This is the one module that imports Babel.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.dates import format_date as babel_date
from babel.dates import format_timedelta
from babel.numbers import format_currency as babel_currency
from babel.numbers import format_decimal as babel_decimal


class FormatError(ValueError):
    """A value a filter cannot format (names the filter, the value and what it expects)."""


@lru_cache(maxsize=256)
def babel_locale(tag: str) -> Locale | None:
    """The Babel locale for a BCP 47 tag (``fr-CA``), or None when CLDR does not know it."""
    try:
        return Locale.parse(tag.replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        return None


def decimal_of(value: Any, name: str) -> Decimal:
    """``value`` as an exact Decimal: a Decimal, an int or a decimal string (never a float)."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool | float):
        raise FormatError(f"{name}: {value!r} is not exact; pass a decimal string like '99.90'")
    try:
        return Decimal(str(value).strip())
    except InvalidOperation:
        raise FormatError(f"{name}: {value!r} is not a number; expected like '99.90'") from None


def date_of(value: Any, name: str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise FormatError(f"{name}: {value!r} is not a date; expected YYYY-MM-DD") from None


@lru_cache(maxsize=4096)
def _currency(locale: Locale, amount: Decimal, currency: str) -> str:
    return str(babel_currency(amount, currency, locale=locale))


def format_currency(locale: Locale, value: Any, currency: Any) -> str:
    """``99,90 €`` (fr), ``€99.90`` (en), ``￥1,200`` (ja): the currency decides the decimals."""
    if value == "" or currency == "":
        return ""  # the frame of a text without its values (sizes)
    code = str(currency).strip().upper()
    if len(code) != 3 or not code.isalpha():
        raise FormatError(f"format_currency: {currency!r} is not an ISO 4217 code like EUR")
    return _currency(locale, decimal_of(value, "format_currency"), code)


@lru_cache(maxsize=4096)
def _decimal(locale: Locale, number: Decimal, digits: int | None) -> str:
    if digits is None:
        return str(babel_decimal(number, locale=locale))
    pattern = "#,##0" + ("." + "0" * digits if digits > 0 else "")
    return str(babel_decimal(number, format=pattern, locale=locale))


def format_decimal(locale: Locale, value: Any, digits: int | None = None) -> str:
    """``1.234,5`` (de); ``digits`` fixes the decimals (``format_decimal(2)`` -> ``1.234,50``)."""
    if value == "":
        return ""
    return _decimal(locale, decimal_of(value, "format_decimal"), digits)


@lru_cache(maxsize=4096)
def _date(locale: Locale, day: date, form: str) -> str:
    return str(babel_date(day, form, locale=locale))


def format_date(locale: Locale, value: Any, form: str = "long") -> str:
    """``9 décembre 2026`` (fr, the default ``long``); ``short``/``medium``/``full`` or a CLDR
    pattern (``d MMMM``)."""
    if value == "":
        return ""
    return _date(locale, date_of(value, "format_date"), str(form))


@lru_cache(maxsize=4096)
def _relative(locale: Locale, days: int) -> str:
    # threshold 2: "in 6 days" rather than "in 1 week"; "in 2 weeks" from 14 days on
    delta = timedelta(days=days)
    return str(
        format_timedelta(delta, granularity="day", threshold=2, add_direction=True, locale=locale)
    )


def relative(locale: Locale, value: Any, today: date) -> str:
    """``in 3 days`` / ``dans 3 jours`` / ``3日後``: a date relative to ``today``."""
    if value == "":
        return ""
    return _relative(locale, (date_of(value, "relative") - today).days)
