"""``outbound audit verify-export DIR``: check an evidence bundle from its files alone."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from outbound.cli.audit import audit_group
from outbound.cli.context import JSON_OPTION, Ctx, pass_ctx
from outbound.cli.output import emit_json
from outbound.config.audit_key import load_audit_key


@audit_group.command("verify-export")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--public-key",
    "public_key",
    type=click.Path(dir_okay=False),
    help="The Ed25519 public key you hold (PEM, or 64 hex digits): checks the manifest's "
    "Ed25519 signature without any secret of ours.",
)
@JSON_OPTION
@pass_ctx
def audit_verify_export(ctx: Ctx, directory: Path, public_key: str | None, as_json: bool) -> None:
    """Check an evidence export without the database: each manifest's signature, the file's
    sha256 and row count, every audit row's hash and MAC, every other row's hash (exit 1 on
    any problem).

    The directory holds what `outbound audit export` wrote (the export and its
    .manifest.json) or the unzipped console download. The manifest's HMAC is checked with the
    audit key (OUTBOUND_AUDIT_KEY or the key file), its Ed25519 signature with --public-key.

    \b
    Example:
      outbound audit verify-export ./evidence-C1001/
      outbound audit verify-export ./bundle --public-key outbound-signing.pub --json
    """
    from outbound.services.views.evidence_seal import read_public_key, verify_bundle

    key = load_audit_key(ctx.settings())
    public = read_public_key(public_key) if public_key else None
    checks = verify_bundle(directory, key, public)
    if as_json:
        emit_json({"ok": all(c.ok for c in checks), "files": [c.as_dict() for c in checks]})
    else:
        for c in checks:
            if c.ok:
                by = " and ".join(c.signed_by)
                click.echo(f"{c.file}: verified ({c.rows} rows; manifest signed by the {by})")
            else:
                click.echo(f"{c.file}: NOT VERIFIED")
                for problem in c.problems:
                    click.echo(f"  - {problem}")
    if not all(c.ok for c in checks):
        sys.exit(1)
