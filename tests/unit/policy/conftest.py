"""Shared fixtures for the policy unit tests: the shipped rules and value builders."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from outbound.domain.values import Channel
from outbound.policy import load_rules_file
from outbound.policy.model import CustomerView, Rules

POLICIES = Path(__file__).resolve().parents[3] / "config" / "policies.toml"


@pytest.fixture(scope="session")
def rules() -> Rules:
    """The rules shipped in config/policies.toml."""
    return load_rules_file(POLICIES)


@pytest.fixture
def make_customer() -> Callable[..., CustomerView]:
    """A US customer in New York with a phone and no push; override any field."""

    def build(**overrides: Any) -> CustomerView:
        fields: dict[str, Any] = {
            "id": 42,
            "country": "US",
            "timezone": None,
            "phone_e164": "+12125551234",
            "has_push": False,
            "preference": (Channel.PUSH, Channel.SMS, Channel.VOICE),
            "suppressed": None,
        }
        fields.update(overrides)
        return CustomerView(**fields)

    return build
