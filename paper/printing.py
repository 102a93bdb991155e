"""Handing a page to a printer, and keeping nothing of it.

A kiosk never writes a ballot record or a receipt to its own disk: the PDF exists in
memory until it is handed over, to a printer command (its standard input, e.g.
``lp -d kiosk-1 -``) or to a spool directory that belongs to the printer (a CUPS hot
folder, say; a test's "printer"). A spooled file is written under a random name
(never a ballot ID, a tracking code or a time), to a temporary name first and then
renamed, so the printer never picks up half a page.
"""

from __future__ import annotations

import os
import secrets
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from e2e.errors import StateError, UsageError

__all__ = ["CommandPrinter", "PrintError", "Printer", "SpoolPrinter", "printer_from_options"]

_PRINT_TIMEOUT = 120.0


class PrintError(StateError):
    """The printer refused or failed: the page was not printed."""


class Printer(Protocol):
    def print_pdf(self, pdf: bytes, kind: str) -> None:
        """Print one PDF (``kind`` is "ballot-record" or "receipt"); raise ``PrintError``."""


@dataclass(frozen=True, slots=True)
class CommandPrinter:
    """Runs ``command`` with the PDF on its standard input; exit 0 means printed."""

    command: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.command:
            raise UsageError("a printer command is needed")

    def print_pdf(self, pdf: bytes, kind: str) -> None:
        try:
            done = subprocess.run(self.command, input=pdf, capture_output=True,
                                  timeout=_PRINT_TIMEOUT, check=False)
        except (OSError, subprocess.TimeoutExpired) as err:
            raise PrintError(f"the printer command failed: {type(err).__name__}",
                             kind) from None
        if done.returncode != 0:
            # Its output is not repeated: a printer's messages could echo the page.
            raise PrintError(f"the printer command exited with status {done.returncode}", kind)


@dataclass(frozen=True, slots=True)
class SpoolPrinter:
    """Drops the PDF into the printer's spool directory under a random name."""

    directory: Path

    def print_pdf(self, pdf: bytes, kind: str) -> None:
        name = secrets.token_hex(16)
        temporary = self.directory / f".{name}.part"
        final = self.directory / f"{kind}-{name}.pdf"
        try:
            with open(temporary, "xb") as file:
                file.write(pdf)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, final)
        except OSError as err:
            temporary.unlink(missing_ok=True)
            raise PrintError(f"cannot write to the printer's spool: {err.strerror}",
                             kind) from None


def printer_from_options(command: str | None, spool: Path | None) -> Printer:
    """A printer from the CLI's options: exactly one of a command and a spool directory."""
    if (command is None) == (spool is None):
        raise UsageError("give exactly one of a printer command and a spool directory")
    if command is not None:
        return CommandPrinter(tuple(shlex.split(command)))
    if spool is None or not spool.is_dir():
        raise UsageError(f"the spool directory {spool} does not exist")
    return SpoolPrinter(spool)
