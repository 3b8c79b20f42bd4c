"""The ``embcore`` command line: argparse and the commands; nothing else parses arguments."""

from __future__ import annotations

from embcore.cli.commands import main

__all__ = ["main"]
