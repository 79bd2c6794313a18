"""One Rich progress bar for the long-running commands: label, bar, done/total, rates, ETA.

On a terminal it redraws in place; piped or logged, it stays silent (no
control characters in logs) and the command's own summary line says what was
done. ``-q`` silences it everywhere.
"""

from __future__ import annotations

from ganrt.cli.common import console


def rates(images_per_s: float, megapixels_per_s: float) -> str:
    """'2.41 img/s  0.37 MP/s', with units that stay readable for tiny and huge images."""
    pixels = megapixels_per_s * 1e6
    if pixels >= 1e6:
        px = f"{megapixels_per_s:.2f} MP/s"
    elif pixels >= 1e3:
        px = f"{pixels / 1e3:.1f} kP/s"
    else:
        px = f"{pixels:.0f} P/s"
    return f"{images_per_s:.2f} img/s  {px}"


class RateBar:
    """``with RateBar("restoring", total, quiet) as bar: bar.update(done, rates="…")``; silent when quiet."""

    def __init__(self, label: str, total: int | None = None, quiet: bool = False, *, unit: str = ""):
        self.label, self.total, self.quiet, self.unit = label, total, quiet, unit
        self._progress = self._task = None
        self._done = 0

    def __enter__(self) -> RateBar:
        if self.quiet:
            return self  # not even a console: -q runs need no Rich at all
        out = console(stderr=True)
        if out.is_terminal:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            columns = [TextColumn(self.label), BarColumn(), MofNCompleteColumn()]
            if self.unit:
                columns.append(TextColumn(self.unit))
            columns += [TextColumn("{task.fields[rates]}"), TextColumn("ETA"), TimeRemainingColumn()]
            self._progress = Progress(*columns, console=out, transient=False)
            self._progress.start()
            self._task = self._progress.add_task(self.label, total=self.total, rates="")
        return self

    def update(self, done: int, *, rates: str = "", total: int | None = None) -> None:
        self._done = done
        if self._progress is not None:
            extra = {"total": total} if total is not None else {}
            self._progress.update(self._task, completed=done, rates=rates, **extra)

    def advance(self, count: int = 1) -> None:
        self.update(self._done + count)

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.stop()
