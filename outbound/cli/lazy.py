"""The root group's subcommands, imported only when one is run (or its own ``--help`` asked).

``outbound --help`` lists them from ``COMMANDS`` without importing a single command module: most
of them pull in SQLAlchemy, pydantic, the policy engine, FastAPI or the voice stack, which a
help screen does not need (tests/unit/test_cli_imports.py holds the import graph, and checks that
each short help here is the command's own).
"""

from __future__ import annotations

import importlib

import click

from outbound.cli.context import FaultAwareGroup

#: name -> (module, attribute, short help as the command's own docstring gives it)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "api": ("outbound.cli.sources", "api_group", "The HTTP API."),
    "audit": ("outbound.cli.audit", "audit_group", "The hash-chained audit log."),
    "call": (
        "outbound.cli.voice",
        "call_group",
        "Robot calls placed by hand, for operators checking a trunk, a flow or a phone.",
    ),
    "campaign": (
        "outbound.cli.campaigns",
        "campaign",
        "Campaigns: a customer segment, a kind, a cron schedule in a time zone.",
    ),
    "consent": (
        "outbound.cli.customers",
        "consent",
        "Grant or revoke consent (an append-only ledger with source and evidence).",
    ),
    "customer": ("outbound.cli.customers", "customer", "Import, list and inspect customers."),
    "db": ("outbound.cli.database", "db", "Database schema management."),
    "demo": (
        "outbound.cli.run",
        "demo",
        "Watch it work: ~50 customers in 10 time zones, all three kinds, on a fresh SQLite file.",
    ),
    "endpoint": (
        "outbound.cli.endpoints",
        "endpoint",
        "Where outbound pushes status events (Standard Webhooks, signed with a whsec_ secret).",
    ),
    "flow": (
        "outbound.cli.voice",
        "flow_group",
        "Voice robot flows (voice_flows/*.yaml): lint them, try them in the terminal.",
    ),
    "init": (
        "outbound.cli.database",
        "init",
        "Create ./config (outbound.toml, policies.toml, audit.key), ./voice_flows, ./templates"
        " (SMS and push texts per kind and locale) and an up-to-date database.",
    ),
    "providers": (
        "outbound.cli.providers",
        "providers_group",
        "The SMS providers of ``[sms] adapter`` / ``[sms] routes``.",
    ),
    "serve": (
        "outbound.cli.run",
        "serve",
        "Run the service: HTTP API, scheduler (leader-elected) and dispatch workers.",
    ),
    "source": (
        "outbound.cli.sources",
        "source",
        "Systems allowed to call the webhook API, with their signing secrets.",
    ),
    "status": (
        "outbound.cli.status",
        "status",
        "The queue, throughput, failures, live workers and dialers, calls and checkpoint.",
    ),
    "templates": (
        "outbound.cli.templates",
        "templates_group",
        "SMS and push texts: templates/<kind>/<channel>.<locale>.j2 ([templates] dir).",
    ),
    "user": (
        "outbound.cli.users",
        "user_group",
        "Console accounts: compliance staff read, operators may also pause and resume campaigns.",
    ),
}


def load(name: str) -> click.Command:
    module, attribute, _ = COMMANDS[name]
    command = getattr(importlib.import_module(module), attribute)
    assert isinstance(command, click.Command)
    return command


class LazyGroup(FaultAwareGroup):
    """A group whose ``COMMANDS`` are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in COMMANDS and cmd_name not in self.commands:
            self.add_command(load(cmd_name), cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            if name in self.commands:
                text = self.commands[name].get_short_help_str(limit)
            else:
                text = click.utils.make_default_short_help(COMMANDS[name][2], limit)
            rows.append((name, text))
        with formatter.section("Commands"):
            formatter.write_dl(rows)
