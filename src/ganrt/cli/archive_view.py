"""How a folder job looks on the terminal: its progress bar, and its outcome (the dry run's plan, or the summary
table with the failures), for `ganrt restore` and `ganrt repair` alike."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator

from ganrt.cli.common import console, shown

MAX_FAILURE_LINES = 20


def archive_progress(label: str, quiet: bool) -> Callable:
    """The ``progress(total)`` of ``ArchiveJob``: a bar of images, with their rates."""
    from ganrt.cli.progress import RateBar, rates

    @contextlib.contextmanager
    def progress(total: int) -> Iterator[Callable]:
        with RateBar(label, total, quiet) as bar:
            yield lambda result, done: bar.update(done, rates=rates(result.images_per_s, result.megapixels_per_s))

    return progress


def tile_progress(label: str, quiet: bool) -> Callable:
    """The ``progress(total)`` of a one-image job: a bar of tiles."""
    from ganrt.cli.progress import RateBar

    @contextlib.contextmanager
    def progress(total: int) -> Iterator[Callable]:
        with RateBar(label, total, quiet, unit="tiles") as bar:
            yield bar.advance

    return progress


def show_outcome(outcome, *, quiet: bool, verb: str, action: str, on_ray: bool = False) -> None:
    """The dry run's plan, or the failures (always) and the summary table (unless quiet). ``verb``: what was done
    to an image ("restored"), ``action``: what will be ("restore")."""
    if outcome.dry_run:
        _show_plan(outcome, quiet, action)
    else:
        _show_summary(outcome.result, outcome.title + (" (Ray)" if on_ray else ""), quiet, verb)


def _show_plan(outcome, quiet: bool, action: str) -> None:
    discovery, todo, result = outcome.discovery, outcome.todo, outcome.result
    lines = [f"{len(discovery.tasks)} image(s) found, {len(discovery.ignored)} other file(s) ignored",
             f"{result.skipped} already done, {len(todo)} to {action}, {len(result.failed)} cannot be"]
    for task in todo[:10]:
        lines.append(f"  {task.rel} → {task.dst.relative_to(discovery.dst_root).as_posix()}")
    if len(todo) > 10:
        lines.append(f"  … and {len(todo) - 10} more")
    for rel, reason in result.failed[:10]:
        lines.append(f"  {rel}: {reason}")
    if not quiet:
        console().print(shown("\n".join(lines)), markup=False)


def _show_summary(result, title: str, quiet: bool, verb: str) -> None:
    for path, reason in result.failed[:MAX_FAILURE_LINES]:
        sys.stderr.write(shown(f"failed: {path}: {reason}") + "\n")
    if len(result.failed) > MAX_FAILURE_LINES:
        sys.stderr.write(f"… and {len(result.failed) - MAX_FAILURE_LINES} more failures (see --report)\n")
    if result.interrupted:
        how = "terminated" if result.signal_code == 143 else "interrupted"
        sys.stderr.write(f"{how} after {result.restored} {verb} image(s); the job state is saved: "
                         "rerun the same command to resume\n")
    if quiet:
        return
    from rich.table import Table
    from rich.text import Text

    table = Table(title=Text(title), show_header=False)
    rows = [(verb, result.restored), ("skipped (already done)", result.skipped),
            ("failed", len(result.failed)), ("ignored (not images)", len(result.ignored)),
            ("time", f"{result.seconds:.1f} s"), ("images/s", f"{result.images_per_s:.3f}"),
            ("megapixels/s", f"{result.megapixels_per_s:.3f}")]
    if result.fallbacks:
        rows.append(("tiles re-run in fp32 (NaN/Inf)", result.fallbacks))
    if warned := result.summary()["restored_with_warnings"]:
        rows.insert(2, ("outputs with warnings (see --report)", warned))
    for key, value in rows:
        table.add_row(key, Text(str(value)))
    console().print(table)
