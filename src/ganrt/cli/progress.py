"""One Rich progress bar for the long-running commands: label, bar, done/total, rates, ETA."""

from __future__ import annotations

from ganrt.cli.common import console


class RateBar:
    """``with RateBar("restoring", total, quiet) as bar: bar.update(done, rates="…")``; silent when quiet."""

    def __init__(self, label: str, total: int | None = None, quiet: bool = False):
        self.label, self.total, self.quiet = label, total, quiet
        self._progress = self._task = None

    def __enter__(self) -> RateBar:
        if not self.quiet:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._progress = Progress(TextColumn(self.label), BarColumn(), MofNCompleteColumn(),
                                      TextColumn("{task.fields[rates]}"), TextColumn("ETA"), TimeRemainingColumn(),
                                      console=console(stderr=True))
            self._progress.start()
            self._task = self._progress.add_task(self.label, total=self.total, rates="")
        return self

    def update(self, done: int, *, rates: str = "", total: int | None = None) -> None:
        if self._progress is not None:
            extra = {"total": total} if total is not None else {}
            self._progress.update(self._task, completed=done, rates=rates, **extra)

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.stop()
