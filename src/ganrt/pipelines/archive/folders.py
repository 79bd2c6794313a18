"""A folder job's INPUT and OUTPUT, local or fsspec URLs: what the walk found, and the job state to open.

A remote OUTPUT's state lives in ganrt's cache, sees the outputs through a listing, takes in the copy the
OUTPUT holds and keeps that copy up to date. The state opened refuses an OUTPUT holding another input
folder's outputs, or another command's (``JobState.claim_input``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ganrt.errors import UsageError
from ganrt.pipelines.archive.state import JobState
from ganrt.pipelines.archive.tasks import Discovery


def open_folders(src: Path | str, dst: Path | str, *, fmt: str, suffix: str, overwrite: bool,
                 command: str) -> tuple[Discovery, Callable[..., JobState]]:
    """The Discovery of a folder job and a function opening its job state (``readonly=True`` for a dry run)."""
    from ganrt.pipelines.imageio.formats import IMAGE_SUFFIXES

    listing = None
    if isinstance(src, Path) and isinstance(dst, Path):
        from ganrt.pipelines.archive.walk import discover

        if not dst.exists() and dst.suffix.lower() in IMAGE_SUFFIXES:
            raise UsageError(f"OUTPUT {dst} looks like an image file, but INPUT is a folder: give an output folder")
        discovery = discover(src, dst, fmt, suffix)
    else:
        from ganrt.pipelines.archive import remote

        discovery, listing = remote.discover(src, dst, fmt, suffix)
    source = src if isinstance(src, str) else str(discovery.src_root)

    def open_state(readonly: bool = False) -> JobState:
        state = JobState(discovery.dst_root, readonly=readonly)
        try:
            if listing is not None:  # a remote OUTPUT (a remote INPUT into a local OUTPUT: the OUTPUT's own state)
                from ganrt.pipelines.archive.listing import StateCopy

                state.remote = listing
                copy = StateCopy(listing)
                copy.merge_into(state)
                if not readonly:
                    state.copy = copy
                    listing.remove_dead_temps()
            state.claim_input(source, command=command, overwrite=overwrite)
        except BaseException:
            state.close()
            raise
        return state

    return discovery, open_state
