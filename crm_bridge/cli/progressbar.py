"""The terminal's side of ``crm_bridge.progress``: a rich progress bar per long task,
with counts, rate and time left, on the console it is given: the output's when that is the
terminal (what a command prints while a bar runs goes above it), else stderr.

Installed by the CLI only on a terminal; the bars are transient, so what
stays on the screen afterwards is the command's own output.
"""

from __future__ import annotations

import threading

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.progress import Task as RichTask
from rich.text import Text

from crm_bridge.progress import Task

__all__ = ["RichReporter"]


class _Rate(ProgressColumn):
    """``70/s``: rows (or records) a second, over rich's recent window."""

    def render(self, task: RichTask) -> Text:
        speed = task.speed
        return Text(f"{speed:,.0f}/s" if speed else "", style="progress.data.speed")


class _Bar:
    def __init__(self, progress: Progress, task_id: TaskID) -> None:
        self.progress, self.task_id = progress, task_id

    def advance(self, count: int = 1) -> None:
        self.progress.advance(self.task_id, count)

    def grow(self, count: int) -> None:
        task = self.progress.tasks[self.task_id]
        self.progress.update(self.task_id, total=(task.total or 0) + count)


class RichReporter:
    """Shows each task as a bar while it runs; the live display stops with the last task."""

    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            TextColumn("{task.description}"), BarColumn(bar_width=24), MofNCompleteColumn(), _Rate(),
            TimeRemainingColumn(), console=console, transient=True,
        )
        self._lock = threading.Lock()
        self._open = 0

    def begin(self, label: str, total: int | None, unit: str) -> Task:
        with self._lock:
            if self._open == 0:
                self._progress.start()
            self._open += 1
        return _Bar(self._progress, self._progress.add_task(f"{label} ({unit})", total=total))

    def end(self, task: Task) -> None:
        if isinstance(task, _Bar):
            self._progress.remove_task(task.task_id)
        with self._lock:
            self._open -= 1
            if self._open == 0:
                self._progress.stop()
