"""What every command shares: passphrases, the console, progress bars, error output."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from e2e.errors import UsageError

__all__ = ["RichReporter", "console", "passphrase_option", "read_passphrase", "stderr"]

console = Console()  # data
stderr = Console(stderr=True)  # messages and progress

PASSPHRASE_ENV = "PAPERCHAIN_PASSPHRASE"  # noqa: S105 - the variable's name, not a secret


def passphrase_option(function: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--passphrase-file", type=click.Path(dir_okay=False, path_type=Path),
        help=f"File whose first line is the passphrase protecting the secrets. Without it, "
             f"${PASSPHRASE_ENV} is used, or you are asked (input hidden).")(function)


def read_passphrase(path: Path | None, what: str, confirm: bool = False) -> bytes:
    if path is not None:
        try:
            lines = path.read_text().splitlines()
        except OSError as err:
            raise UsageError(f"cannot read the passphrase file: {err.strerror}",
                             str(path)) from None
        text = lines[0] if lines else ""
    elif os.environ.get(PASSPHRASE_ENV):
        text = os.environ[PASSPHRASE_ENV]
    else:
        text = click.prompt(f"Passphrase for {what}", hide_input=True,
                            confirmation_prompt=confirm, err=True)
    if len(text.encode()) < 8:
        raise UsageError("the passphrase must be at least 8 bytes")
    return text.encode()


class RichReporter:
    """Progress bars and step messages on stderr (data stays on stdout)."""

    def step(self, message: str) -> None:
        stderr.print(message, highlight=False)

    @contextmanager
    def progress(self, label: str, total: int) -> Iterator[Callable[[int], None]]:
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=stderr, transient=False) as bar:
            task = bar.add_task(label, total=total)
            yield lambda advance: bar.advance(task, advance)
