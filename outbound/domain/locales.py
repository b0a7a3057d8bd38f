"""Which template a customer's locale gets: ``fr-CA → fr → [templates] default_locale``.

Locales are BCP 47 tags (``fr-CA``, ``zh-Hant-TW``; ``fr_CA`` is read the same). Chinese goes
by script: ``zh-CN``/``zh-SG``/``zh`` read Simplified (``zh-Hans``), ``zh-TW``/``zh-HK``/``zh-MO``
Traditional (``zh-Hant``), so a Hong Kong customer never gets Simplified characters.
"""

from __future__ import annotations

from functools import lru_cache

#: the languages shipped in templates/ (file names ``<channel>.<locale>.j2``)
SHIPPED = ("en", "de", "fr", "es", "it", "pt", "nl", "ja", "zh-Hans", "zh-Hant", "ko")
#: regions whose Chinese is written in Traditional characters
_HANT_REGIONS = frozenset({"TW", "HK", "MO"})


def normalize(tag: str) -> str:
    """``fr_ca`` -> ``fr-CA``, ``zh-hant-tw`` -> ``zh-Hant-TW`` (BCP 47 casing)."""
    parts = [p for p in tag.strip().replace("_", "-").split("-") if p]
    if not parts:
        return ""
    out = [parts[0].lower()]
    for part in parts[1:]:
        if len(part) == 4 and part.isalpha():
            out.append(part.title())
        elif len(part) in (2, 3):
            out.append(part.upper())
        else:
            out.append(part.lower())
    return "-".join(out)


def script_of(tag: str) -> str | None:
    """The written script a Chinese tag implies (``Hans``/``Hant``); None for other languages."""
    parts = normalize(tag).split("-")
    if parts[0] != "zh":
        return None
    for part in parts[1:]:
        if part in ("Hans", "Hant"):
            return part
    region = next((p for p in parts[1:] if len(p) == 2), "")
    return "Hant" if region in _HANT_REGIONS else "Hans"


@lru_cache(maxsize=1024)
def candidates(tag: str, default: str) -> tuple[str, ...]:
    """The locales to try, most specific first: ``fr-CA`` -> (fr-CA, fr, en)."""
    full = normalize(tag)
    language = full.split("-")[0] if full else ""
    out: list[str] = []
    if full:
        out.append(full)
    script = script_of(full) if full else None
    if script is not None:
        out.append(f"{language}-{script}")
    if language:
        out.append(language)
    out.append(normalize(default))
    return tuple(dict.fromkeys(out))
