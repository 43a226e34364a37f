"""How an operator command shows what it is doing: sentences, and bars for what takes long.

Commands take a ``Progress``; the command line passes ``RichProgress`` (bars on a terminal,
plain lines otherwise), tests pass ``Recorded`` and read what was said."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Protocol

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, SpinnerColumn, TextColumn
from rich.progress import Progress as RichBars


class Bar(Protocol):
    def update(
        self, completed: float, *, total: float | None = None, description: str | None = None
    ) -> None: ...


class Progress(Protocol):
    def say(self, message: str) -> None:
        """A line the operator should read (kept when the bars go)."""
        ...

    def bar(self, description: str, total: float | None = None) -> AbstractContextManager[Bar]:
        """A bar (or a spinner without ``total``) for as long as the ``with`` block runs."""
        ...


@dataclass(frozen=True)
class _Bar:
    """A bar whose updates go to ``on_update(completed, total, description)``."""

    on_update: Callable[[float, float | None, str | None], None]

    def update(
        self, completed: float, *, total: float | None = None, description: str | None = None
    ) -> None:
        self.on_update(completed, total, description)


@dataclass
class Recorded:
    """Keeps every line and each bar's last state."""

    lines: list[str] = field(default_factory=list)
    bars: dict[str, tuple[float, float | None]] = field(default_factory=dict)

    def say(self, message: str) -> None:
        self.lines.append(message)

    @contextmanager
    def bar(self, description: str, total: float | None = None) -> Iterator[Bar]:
        self.bars[description] = (0.0, total)

        def record(completed: float, new_total: float | None, _: str | None) -> None:
            last_total = self.bars[description][1]
            self.bars[description] = (completed, last_total if new_total is None else new_total)

        yield _Bar(record)


class RichProgress:
    def __init__(self, console: Console) -> None:
        self.console = console

    def say(self, message: str) -> None:
        self.console.print(message, highlight=False)

    @contextmanager
    def bar(self, description: str, total: float | None = None) -> Iterator[Bar]:
        if not self.console.is_terminal:  # a log or a pipe: the sentences are enough
            yield _Bar(lambda completed, total, description: None)
            return
        columns = (
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn() if total and total > 1 else TextColumn(""),
        )
        with RichBars(*columns, console=self.console, transient=True) as bars:
            task = bars.add_task(description, total=total)
            yield _Bar(
                lambda completed, total, description: bars.update(
                    task, completed=completed, total=total, description=description
                )
            )
