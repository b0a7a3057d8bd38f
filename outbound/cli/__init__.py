"""The ``outbound`` command line: one module per command group, output helpers."""

from outbound.cli.root import cli, main

__all__ = ["cli", "main"]
