"""The pieces every input model shares: the base class, value types, and one error converter.

A model states what a field must be; ``problems`` turns pydantic's errors into our
``FieldProblem``s (field path, shown value, hint) so the API, the CLI and file imports report
the same input the same way. Phone numbers are masked and secrets cut before they are shown.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from functools import cache
from typing import Annotated, Any, ClassVar, TypeVar, get_args
from zoneinfo import available_timezones

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictBool,
    StringConstraints,
)
from pydantic import ValidationError as PydanticError
from pydantic_core import ErrorDetails, PydanticCustomError

from outbound.domain.errors import FieldProblem, ValidationError
from outbound.domain.masking import mask_phone, mask_secret, mask_text

M = TypeVar("M", bound=BaseModel)

#: the field path of a problem with the input as a whole (not one of its fields)
ROOT = "input"
#: regex -> the hint shown when a value does not match it (filled by ``matching``)
PATTERN_HINTS: dict[str, str] = {}


class Schema(BaseModel):
    """Unknown fields are refused, text is trimmed, numbers are accepted where text is asked."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, coerce_numbers_to_str=True)
    #: names the model in "is required for …" and "is not a … field" hints
    label: ClassVar[str] = ""


def invalid(hint: str, value: object = None) -> PydanticCustomError:
    """A failed rule of ours: ``hint`` is shown as is; ``value`` replaces the raw input shown."""
    context: dict[str, Any] = {"hint": hint}
    if value is not None:
        context["value"] = value
    return PydanticCustomError("outbound", "{hint}", context)


def matching(regex: str, hint: str, *, max_length: int | None = None) -> StringConstraints:
    """A non-empty string matching ``regex``; a mismatch is reported with ``hint``."""
    PATTERN_HINTS[regex] = hint
    return StringConstraints(min_length=1, max_length=max_length, pattern=regex)


@cache
def zones() -> frozenset[str]:
    return frozenset(available_timezones())


def _zone(name: str) -> str:
    if name not in zones():
        raise invalid("is not an IANA time zone; e.g. Europe/Berlin")
    return name


def plain(amount: Decimal) -> str:
    """How a Price is shown and stored: ``Decimal('25.0')`` -> ``'25'``."""
    return format(amount.normalize(), "f")


Text = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Token = Annotated[
    str,
    matching(
        r"^[A-Za-z0-9._:/#-]{1,64}$",
        "may use only A-Z a-z 0-9 . _ : / # - (at most 64)",
        max_length=64,
    ),
]
Url = Annotated[
    str,
    matching(
        r"^[Hh][Tt][Tt][Pp][Ss]?://[^\s/$.?#][^\s]*$",
        "is not an http(s) URL; expected like https://shop.example/p/123",
        max_length=2000,
    ),
]
Currency = Annotated[
    str,
    matching(r"^[A-Z]{3}$", "is not an ISO 4217 code; expected like USD, EUR, CNY", max_length=3),
]
#: the largest price, and its precision: a price is at most 14 digits, 4 of them decimals
MAX_PRICE = Decimal("1000000000")
#: a positive, finite, bounded amount; stored and compared as its plain decimal string ("15.5")
Price = Annotated[
    Decimal,
    Field(
        gt=0,
        le=MAX_PRICE,
        max_digits=14,
        decimal_places=4,
        allow_inf_nan=False,
        description="A positive amount up to 1000000000 with at most 4 decimals, e.g. 19.99",
    ),
    PlainSerializer(plain, return_type=str),
]
IsoDate = Annotated[date, Field(description="YYYY-MM-DD")]
Flag = StrictBool
Zone = Annotated[
    str,
    Field(max_length=64, description="IANA time zone, e.g. Europe/Berlin"),
    AfterValidator(_zone),
]


# --- errors -----------------------------------------------------------------------------------

_DATE = "is not a date; expected YYYY-MM-DD"
_NUMBER = "is not a number; expected like 19.99"
_HINTS: dict[str, str] = {
    "string_type": "must be a non-empty string",
    "string_too_long": "is longer than {max_length} characters",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "decimal_parsing": _NUMBER,
    "decimal_type": _NUMBER,
    "finite_number": "must be a finite amount",
    "decimal_max_digits": "has more than {max_digits} digits; expected like 19.99",
    "decimal_max_places": "has more than {decimal_places} decimal places; expected like 19.99",
    "decimal_whole_digits": "has more than {whole_digits} digits before the point",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "greater_than_equal": "must be at least {ge}",
    "less_than_equal": "must be at most {le}",
    "date_type": _DATE,
    "date_parsing": _DATE,
    "date_from_datetime_parsing": _DATE,
    "date_from_datetime_inexact": _DATE,
    "list_type": "must be a list",
    "too_long": "may have at most {max_length} items",
    "model_type": "must be a JSON object",
    "dict_type": "must be a JSON object",
    "model_attributes_type": "must be a JSON object",
    "dataclass_type": "must be a JSON object",
    "literal_error": "must be {expected}",
    "enum": "must be {expected}",
    "union_tag_invalid": "is not one of {expected_tags}",
    "union_tag_not_found": "is required",
}
_SECRET_KEYS = {"auth", "endpoint", "push_token"}


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in get_args(annotation) for m in _models_in(arg)]


def _owner(model: type[BaseModel] | None, loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The model class that holds the field at ``loc`` (list indexes are stepped over)."""
    for key in loc:
        if model is None or isinstance(key, int):
            continue
        info = model.model_fields.get(key)
        found = _models_in(info.annotation) if info else []
        model = found[0] if found else None
    return model


def _labelled(model: type[BaseModel] | None) -> type[BaseModel] | None:
    """The class that named itself (so an API subclass lists the shared model's fields)."""
    for cls in model.__mro__ if model else ():
        if "label" in vars(cls):
            return cls
    return model


def path_of(loc: tuple[int | str, ...], prefix: str = "") -> str:
    """``('push_subscriptions', 0, 'keys', 'auth')`` -> ``push_subscriptions[0].keys.auth``.

    A trailing list index is dropped: the value shown already says which item is meant.
    """
    parts = list(loc)
    while parts and isinstance(parts[-1], int):
        parts.pop()
    text = prefix
    for key in parts:
        if isinstance(key, int):
            text += f"[{key}]"
        else:
            text += f".{key}" if text else str(key)
    return text or ROOT


def loc_of(path: str) -> list[str | int]:
    """The inverse of ``path_of`` for JSON answers: ``a[0].b`` -> ``['a', 0, 'b']``."""
    out: list[str | int] = []
    for part in path.split("."):
        name, *indexes = part.replace("]", "").split("[")
        out.append(name)
        out.extend(int(i) for i in indexes)
    return out


def shown(field: str, value: Any) -> Any:
    """A value as an error may show it, always JSON-safe: phone numbers masked (as text, as a
    number, inside a list or object), secrets cut, long text shortened, non-finite and huge
    numbers as short text."""
    last = field.rsplit(".", 1)[-1].split("[")[0]
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int) and abs(value) >= 10**19:
        return "a number too large to show"
    if last == "phone" and isinstance(value, (str, int, float)):
        text = str(value)
        return mask_phone(text if text.startswith("+") else f"+{text}")
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, int):
        return value
    if last in _SECRET_KEYS:
        return mask_secret(str(value))
    if isinstance(value, (list, tuple)):
        return [shown(field, item) for item in value[:10]]
    if isinstance(value, Mapping):
        return {
            str(shown("", key)): shown(f"{field}.{key}", item)
            for key, item in list(value.items())[:10]
        }
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    text = mask_text(value if isinstance(value, str) else str(value))
    return text if len(text) <= 100 else text[:100] + "…"


def _hint(error: ErrorDetails, owner: type[BaseModel] | None, name: str) -> str:
    kind, ctx = error["type"], error.get("ctx") or {}
    labelled = _labelled(owner)
    label = getattr(labelled, "label", "") if labelled else ""
    if kind == "missing":
        info = owner.model_fields.get(name) if owner else None
        example = f", e.g. {info.examples[0]}" if info and info.examples else ""
        return (f"is required for {label}" if label else "is required") + example
    if kind == "extra_forbidden":
        known = ", ".join(labelled.model_fields) if labelled else ""
        return f"is not a {label or 'known'} field; known: {known}"
    if kind == "string_pattern_mismatch":
        return PATTERN_HINTS.get(str(ctx.get("pattern")), f"does not match {ctx.get('pattern')}")
    if kind == "string_too_short":
        return "must be a non-empty string"
    if kind == "greater_than":
        return (
            "must be a positive amount" if str(ctx.get("gt")) == "0" else f"must be > {ctx['gt']}"
        )
    template = _HINTS.get(kind)
    return template.format(**ctx) if template else error["msg"]


def _problem(
    error: ErrorDetails, root: type[BaseModel] | None, loc: tuple[int | str, ...], prefix: str
) -> FieldProblem:
    ctx = error.get("ctx") or {}
    if error["type"] in ("union_tag_invalid", "union_tag_not_found"):
        loc = (*loc, str(ctx.get("discriminator", "type")).strip("'"))
    field = path_of(loc, prefix)
    name = loc[-1] if loc and isinstance(loc[-1], str) else ""
    hint = _hint(error, _owner(root, loc[:-1]), str(name))
    if error["type"] in ("missing", "union_tag_not_found"):
        value: Any = None
    else:
        value = ctx.get("value", ctx.get("tag", error.get("input")))
    return FieldProblem(field, shown(field, value), hint)


def _field_loc(
    root: type[BaseModel] | None, loc: tuple[int | str, ...], kind: str
) -> tuple[int | str, ...]:
    """``loc`` without the union-member labels pydantic inserts (``str-enum[Purpose]``,
    ``literal['all']``, ``float``): only field names and list indexes stay (and, for an
    unknown field, its name)."""
    if root is None:
        return loc
    if kind == "extra_forbidden" and loc:
        return (*_field_loc(root, loc[:-1], ""), loc[-1])
    out: list[int | str] = []
    model: type[BaseModel] | None = root
    for key in loc:
        if isinstance(key, int):
            out.append(key)
        elif model is not None and key in model.model_fields:
            out.append(key)
            found = _models_in(model.model_fields[key].annotation)
            model = found[0] if found else None
        # else: a union member's label (under a model, or below a plain field)
    return tuple(out)


def problems(
    exc: PydanticError,
    model: type[BaseModel] | Mapping[str, type[BaseModel]] | None,
    prefix: str = "",
) -> list[FieldProblem]:
    """pydantic's errors as our FieldProblems, in field order.

    ``model`` is the validated class, or for a discriminated union a mapping of tag -> class
    (the tag pydantic puts first in each error's location is then dropped from the path).
    """
    out: list[FieldProblem] = []
    for error in exc.errors(include_url=False):
        loc = tuple(error["loc"])
        root = model if not isinstance(model, Mapping) else None
        if isinstance(model, Mapping) and loc and loc[0] in model:
            root, loc = model[str(loc[0])], loc[1:]
        problem = _problem(error, root, _field_loc(root, loc, error["type"]), prefix)
        if all(p.field != problem.field for p in out):  # one problem per field (unions)
            out.append(problem)
    return out


def parse(model: type[M], raw: Any, *, prefix: str = "", where: str = "") -> M:
    """Validate ``raw`` as ``model`` or raise our ValidationError naming every bad field."""
    try:
        return model.model_validate(raw)
    except PydanticError as exc:
        raise ValidationError(problems(exc, model, prefix), where=where) from None


def split(value: Any) -> Any:
    """A list as a file cell spells it (``"push>sms"``, ``"A;B"``), or as JSON gives it."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [part.strip() for part in re.split(r"[;,>|]", value) if part.strip()]
    if isinstance(value, (list, tuple)):
        items = [v.strip() if isinstance(v, str) else v for v in value]
        return [v for v in items if v != ""]
    return value
