"""The loader: pydantic-settings sources in the documented precedence, errors that say where.

Defaults < ``config/outbound.toml`` < ``OUTBOUND_<SECTION>_<KEY>`` environment variables < CLI
flags. The config directory is ``--config-dir``, else
``$OUTBOUND_CONFIG_DIR``, else ``./config`` if it exists, else the ``config/`` folder of the
source checkout. pydantic-settings reads and merges the layers; each layer is also checked on
its own first, so a bad value is reported with the place it came from (file, environment,
command line) instead of pydantic's merged view.
"""

from __future__ import annotations

import logging
import tomllib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal, Self, get_args, get_origin

from pydantic import BaseModel, PrivateAttr, SecretStr, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)

from outbound.config.paths import SOURCE_CONFIG as _SOURCE_CONFIG
from outbound.config.paths import find_config_dir
from outbound.config.providers import AliyunSection, TwilioSection, VonageSection, twilio_from
from outbound.config.sections import (
    ApiSection,
    ApnsSection,
    AuditSection,
    BrandSection,
    ConsoleSection,
    DatabaseSection,
    EndpointsSection,
    ExpirySection,
    LadderSection,
    LogSection,
    OtelSection,
    PrivacySection,
    PushSection,
    SchedulerSection,
    SmsSection,
    TemplatesSection,
    VoiceSection,
    WorkerSection,
)
from outbound.domain.errors import ConfigError

log = logging.getLogger("outbound.config")


@dataclass(frozen=True)
class _Load:
    """What one ``load_settings`` call reads: the config dir and the environment mapping."""

    directory: Path
    environ: Mapping[str, str] | None = None


#: set by load_settings for the duration of one Settings() construction (sources are built by
#: a classmethod, which has no other way to learn the call's config dir and environment)
_LOAD: ContextVar[_Load | None] = ContextVar("outbound_settings_load", default=None)


def _current_load() -> _Load:
    return _LOAD.get() or _Load(find_config_dir())


@contextmanager
def _loading(load: _Load) -> Iterator[None]:
    token = _LOAD.set(load)
    try:
        yield
    finally:
        _LOAD.reset(token)


class Settings(BaseSettings):
    """All settings; build with ``load_settings``. Read typed values: ``settings.worker.threads``."""

    model_config = SettingsConfigDict(
        env_prefix="OUTBOUND_",
        env_nested_delimiter="_",
        env_nested_max_split=1,
        extra="forbid",
        frozen=True,
    )

    brand: BrandSection = BrandSection()
    database: DatabaseSection = DatabaseSection()
    worker: WorkerSection = WorkerSection()
    ladder: LadderSection = LadderSection()
    expiry: ExpirySection = ExpirySection()
    scheduler: SchedulerSection = SchedulerSection()
    api: ApiSection = ApiSection()
    log: LogSection = LogSection()
    otel: OtelSection = OtelSection()
    console: ConsoleSection = ConsoleSection()
    audit: AuditSection = AuditSection()
    sms: SmsSection = SmsSection()
    twilio: TwilioSection = TwilioSection()
    vonage: VonageSection = VonageSection()
    aliyun: AliyunSection = AliyunSection()
    voice: VoiceSection = VoiceSection()
    push: PushSection = PushSection()
    apns: ApnsSection = ApnsSection()
    privacy: PrivacySection = PrivacySection()
    endpoints: EndpointsSection = EndpointsSection()
    templates: TemplatesSection = TemplatesSection()
    #: operator ``[[caps]]``; the policy loader validates each (outbound.policy.loader.parse_cap)
    caps: tuple[dict[str, Any], ...] = ()
    _config_dir: Path = PrivateAttr(default=_SOURCE_CONFIG)

    def model_post_init(self, context: Any, /) -> None:
        self._config_dir = _current_load().directory

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Highest first: CLI flags (init kwargs), the environment, outbound.toml."""
        load = _current_load()
        toml = load.directory / "outbound.toml"
        return (
            _Layer(init_settings, "command line"),
            _Layer(_Environment(settings_cls, load.environ), "environment"),
            _Layer(_toml_source(settings_cls, toml), str(toml)),
        )

    @classmethod
    def load(
        cls,
        config_dir: str | Path | None = None,
        overrides: Mapping[str, Mapping[str, Any]] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> Self:
        """Read the layers; a flag given as None (not passed) is left out.

        ``environ`` defaults to the process environment.
        """
        flags: dict[str, Any] = {
            section: {key: value for key, value in entries.items() if value is not None}
            for section, entries in (overrides or {}).items()
        }
        with _loading(_Load(find_config_dir(config_dir), environ)):
            return cls(**flags)

    @property
    def config_dir(self) -> Path:
        return self._config_dir

    @property
    def database_url(self) -> str:
        return self.database.url

    @property
    def policies_file(self) -> Path:
        return self._config_dir / "policies.toml"

    @property
    def operator_caps(self) -> tuple[Mapping[str, Any], ...]:
        return self.caps

    def override(self, changes: Mapping[str, Mapping[str, Any]], origin: str = "override") -> Self:
        """A copy with some keys changed (the demo's loopback peers, benchmarks), checked."""
        known = type(self).model_fields
        merged = {
            section: {**dict(getattr(self, section)), **entries} if section in known else entries
            for section, entries in changes.items()
        }
        return self.model_copy(update=_validated(type(self), merged, origin))


def load_settings(
    config_dir: str | Path | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Build Settings with the documented precedence; CLI flags arrive as ``overrides``."""
    return Settings.load(config_dir, overrides, environ)


# --- sources ----------------------------------------------------------------------------------


class _Environment(EnvSettingsSource):
    """``OUTBOUND_<SECTION>_<KEY>`` from ``environ`` (the process environment when None)."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str] | None):
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        if self._environ is None:
            return super()._load_env_vars()
        return {name.lower(): value for name, value in self._environ.items()}

    def decode_complex_value(self, field_name: str, field: FieldInfo | None, value: Any) -> Any:
        """A list key from a variable: JSON (``["compliance"]``) or a comma list
        (``compliance,operator``); other complex values must be JSON."""
        try:
            return super().decode_complex_value(field_name, field, value)  # type: ignore[arg-type]
        except ValueError:
            listed = field is not None and get_origin(field.annotation) in (list, tuple)
            if not (listed and isinstance(value, str)) or value.lstrip().startswith("["):
                raise
            return [part.strip() for part in value.split(",") if part.strip()]


def _toml_source(settings_cls: type[BaseSettings], path: Path) -> TomlConfigSettingsSource:
    try:
        return TomlConfigSettingsSource(settings_cls, toml_file=path)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}); fix the line named") from exc


class _Layer(PydanticBaseSettingsSource):
    """One precedence layer, validated on its own so an error can name where it came from."""

    def __init__(self, source: PydanticBaseSettingsSource, origin: str) -> None:
        super().__init__(source.settings_cls)
        self.source, self.origin = source, origin

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ returns the wrapped source's values

    def __call__(self) -> dict[str, Any]:
        try:
            values = self.source()
        except SettingsError as exc:  # e.g. OUTBOUND_WORKER='not json'
            raise ConfigError(
                f"{self.origin}: {exc}; set one key per variable, like OUTBOUND_WORKER_THREADS=4; "
                "a list as a comma list (OUTBOUND_CONSOLE_ERASE_ROLES=compliance,operator) or JSON"
            ) from None
        values = _twilio_from(_brand_alias(values, self.origin))
        _validated(self.settings_cls, values, self.origin)
        return values

    def __repr__(self) -> str:
        return f"_Layer({self.origin!r}, {self.source!r})"


def _brand_alias(layer: dict[str, Any], origin: str) -> dict[str, Any]:
    """``[voice] brand`` (deprecated, kept for existing configs) is ``[brand] name``."""
    voice, brand = layer.get("voice"), layer.get("brand", {})
    if not (isinstance(voice, Mapping) and "brand" in voice and isinstance(brand, Mapping)):
        return layer
    old = voice["brand"]
    if brand.get("name", old) != old:
        raise ConfigError(
            f"{origin}: [voice] brand = {old!r} and [brand] name = {brand['name']!r} disagree; "
            "[voice] brand is deprecated: keep only [brand] name"
        )
    log.warning("%s: [voice] brand is deprecated; write [brand] name = %r instead", origin, old)
    rest = {key: value for key, value in voice.items() if key != "brand"}
    return {**layer, "voice": rest, "brand": {**brand, "name": old}}


def _twilio_from(layer: dict[str, Any]) -> dict[str, Any]:
    """``[twilio] from`` / OUTBOUND_TWILIO_FROM is ``from_number``, renamed within its own layer
    so that a higher layer's ``from`` overrides a lower one's ``from_number``."""
    twilio = layer.get("twilio")
    if not (isinstance(twilio, Mapping) and "from" in twilio):
        return layer
    return {**layer, "twilio": twilio_from(twilio)}


# --- errors: name the origin, the [section] key, the bad value and what is expected -------------


@cache
def _adapter(settings_cls: type[BaseSettings], section: str) -> TypeAdapter[Any]:
    annotation: Any = settings_cls.model_fields[section].annotation
    return TypeAdapter(annotation)


def _validated(
    settings_cls: type[BaseSettings], layer: Mapping[str, Any], origin: str
) -> dict[str, Any]:
    """Each section of ``layer`` validated (defaults fill the rest), or a ConfigError."""
    fields, out = settings_cls.model_fields, {}
    for section, entries in layer.items():
        if section not in fields:
            known = ", ".join(sorted(fields))
            raise ConfigError(f"{origin}: unknown section [{section}]; known: {known}")
        try:
            out[section] = _adapter(settings_cls, section).validate_python(entries)
        except ValidationError as exc:
            problem = _describe(exc.errors()[0], section, fields[section], origin)
            raise ConfigError(problem) from None
    return out


def _describe(error: ErrorDetails, section: str, field: FieldInfo, origin: str) -> str:
    model, loc = field.annotation, error["loc"]
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return f"{origin}: {section} must be an array of tables ([[{section}]]); {error['msg']}"
    if not loc:
        return f"{origin}: [{section}] must be a table of keys, not {error['input']!r}"
    key = str(loc[0])
    if error["type"] == "extra_forbidden":
        known = ", ".join(sorted(model.model_fields))
        variable = f" (OUTBOUND_{section}_{key})".upper() if origin == "environment" else ""
        return f"{origin}: unknown key [{section}] {key}{variable}; known: {known}"
    info = model.model_fields[key]
    secret = info.annotation is SecretStr
    if error["type"] == "value_error":  # a rule of the section's own, worded for the key
        variable = f" (OUTBOUND_{section}_{key})".upper() if origin == "environment" else ""
        return f"{origin} [{section}] {key}{variable} {error.get('ctx', {}).get('error', '')}"
    shown = "'***'" if secret else repr(error["input"])
    variable = f" (OUTBOUND_{section}_{key})".upper() if origin == "environment" else ""
    if len(loc) > 1 and not secret:  # one item of a list key, e.g. erase_roles = ["bogus"]
        return f"{origin} [{section}] {key}{variable}: item {shown} {error['msg'].lower()}"
    default = info.get_default(call_default_factory=True)
    example = info.default.get_secret_value() if secret else default
    if error["type"] in _BOUNDS:  # the right type, out of range: say the range
        return f"{origin} [{section}] {key} = {shown} {error['msg'].lower()}; expected like {example!r}"
    return (
        f"{origin} [{section}] {key} = {shown} is not {_kind(info.annotation)}; "
        f"expected like {example!r}"
    )


_BOUNDS = ("greater_than", "greater_than_equal", "less_than", "less_than_equal")


def _kind(annotation: Any) -> str:
    if get_origin(annotation) is Literal:
        return "one of " + ", ".join(repr(choice) for choice in get_args(annotation))
    names = {int: "an int", float: "a float", bool: "a bool", str: "a str", SecretStr: "a str"}
    return names.get(annotation, f"a {getattr(annotation, '__name__', annotation)}")
