"""Folders given as fsspec URLs (``s3://bucket/scans``, ``gs://…``, ``ftp://host/path``,
``memory://…``): listed, read and written through fsspec, planned and recorded as local folders are.

A remote folder has a local *stand-in* path (``Mirror``). Tasks, the output plan and the job state
work on stand-in paths exactly as on a local folder; the few places that touch files ask this module:

- the walk lists the remote INPUT once (``discover``) and the remote OUTPUT once (``listing.Listing``): the
  plan's existence checks and the job state's "is the output still there" come from that listing;
- the read stage fetches each image into a temporary local file (``fetched``); the write stage writes
  into a temporary local folder and uploads what it wrote (``uploading``): straight to the final name
  on object stores, whose uploads appear whole or not at all, elsewhere to a temporary name then moved;
- the job state of a remote OUTPUT lives on the driver, in ganrt's cache, keyed by the OUTPUT's URL,
  and a copy of it in the OUTPUT itself (``listing.StateCopy``: pushed every few minutes and at the end, merged
  in when a run opens the state), so that a rerun from another machine resumes instead of refusing
  the outputs as someone else's;
- a run that holds the job state removes the temporary names dead uploads left in the OUTPUT
  (``Listing.remove_dead_temps``).

Both stages run wherever the runner runs (this process, or Ray's workers, which reach the storage
with their own credentials). ``file://`` URLs are plain local paths.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from ganrt.errors import UsageError
from ganrt.pipelines.archive.listing import Listing, list_entries, seconds_of, version_ns
from ganrt.pipelines.archive.urls import Mirror, filesystem, upload
from ganrt.pipelines.notes import note


# --- listings -------------------------------------------------------------------------------------


# --- the walk -------------------------------------------------------------------------------------

def check_urls(src: Path | str, dst: Path | str) -> None:
    if isinstance(src, str) and isinstance(dst, str):
        if src == dst:
            raise UsageError("OUTPUT is INPUT: originals are never overwritten; choose another folder")
        if src.startswith(dst + "/"):
            raise UsageError("INPUT is inside OUTPUT, so outputs could land on inputs; choose another folder")
    if isinstance(dst, Path) and dst.exists() and not dst.is_dir():
        raise UsageError(f"OUTPUT_DIR {dst} exists and is not a folder")


def discover(src: Path | str, dst: Path | str, fmt: str = "same", name_suffix: str = ""):
    """``archive_walk.discover`` for a job with a URL on either side: (Discovery, Listing of a
    remote OUTPUT or None). Tasks carry the input's URL and the output's mirror."""
    from ganrt.fsutil import Confined, is_temp_name, plain_key
    from ganrt.pipelines.archive import walk as archive_walk
    from ganrt.pipelines.archive.system_files import file_reason, ignored_part
    from ganrt.pipelines.archive.tasks import STATE_NAMES, Discovery, Task
    from ganrt.pipelines.imageio import sidecar
    from ganrt.pipelines.imageio.formats import READ_SUFFIXES, output_suffix

    check_urls(src, dst)
    dst_mirror = Mirror.of(dst, "outputs") if isinstance(dst, str) else None
    dst_root = dst_mirror.local if dst_mirror else dst.resolve()
    if isinstance(src, Path):
        found = archive_walk.discover(src, dst_root, fmt, name_suffix)
    else:
        src_mirror = Mirror.of(src, "inputs")
        found = Discovery(src_mirror.local, dst_root)
        confined = Confined(dst_root)
        inside = dst[len(src) + 1:] if isinstance(dst, str) and dst.startswith(src + "/") else None
        system_folders: set[str] = set()
        listed = list_entries(src, missing_ok=False)
        siblings: dict[str, set[str]] = {}  # the file names of each folder, for sidecars
        for rel, info in listed.items():
            if info.get("type") != "directory":
                folder, _, name = rel.rpartition("/")
                siblings.setdefault(folder, set()).add(name)
        for rel, info in sorted(listed.items()):
            if info.get("type") == "directory" or (inside and (rel == inside or rel.startswith(inside + "/"))):
                continue
            if not plain_key(rel):  # scans/../escape.png: a name, on a store, that points out of OUTPUT here
                found.failed.append((rel, "its key has an empty, '.' or '..' part: its output would land "
                                          "outside OUTPUT; not restored (rename the key)"))
                continue
            rel_path = Path(rel)
            if is_temp_name(rel_path.name) or rel_path.name in STATE_NAMES:
                continue
            system = ignored_part(rel)
            if system:
                if system[0] not in system_folders:
                    system_folders.add(system[0])
                    found.ignored.append(system)
                continue
            here = siblings[rel.rpartition("/")[0]]
            if rel_path.suffix.lower() not in READ_SUFFIXES:
                photo = sidecar.owner(rel_path.name, here)
                found.ignored.append((rel, f"XMP sidecar of {photo} (its captions go into that output)" if photo
                                      else "not an image file type"))
                continue
            why = file_reason(None, rel_path.name)
            if why:
                found.ignored.append((rel, why))
                continue
            out = dst_root / rel_path.with_name(rel_path.stem + name_suffix + output_suffix(rel_path, fmt))
            if not confined.holds(out):  # a local OUTPUT holding a link out of it, on the key's way
                found.failed.append((rel, "its output would land outside OUTPUT (a link in the way); not restored"))
                continue
            version, side_url = version_ns(info), None
            side = next(iter(sidecar.names_among(rel_path.name, here)), None)
            if side is not None:  # an edited caption redoes the photo, as in a local folder
                side_rel = rel[: len(rel) - len(rel_path.name)] + side
                side_url = f"{src}/{side_rel}"
                both = f"{version}:{version_ns(listed[side_rel])}"
                version = int(hashlib.sha256(both.encode()).hexdigest()[:15], 16)
            seconds = seconds_of(info)
            found.tasks.append(Task(src_mirror.local / rel_path, rel, out, int(info.get("size") or 0),
                                    version, src_url=f"{src}/{rel}", sidecar_url=side_url,
                                    src_time_ns=int(seconds * 1e9) if seconds is not None else None))
    if dst_mirror is not None:
        found.tasks = [replace(t, dst_mirror=dst_mirror) for t in found.tasks]
        return found, Listing.of(dst_mirror)
    return found, None


def header_has_alpha(url: str) -> bool:
    """Whether the remote image decodes with an alpha channel, from the first bytes of its header."""
    from ganrt.pipelines.imageio.header import has_alpha

    fs, path = filesystem(url)
    try:
        from PIL import Image

        with fs.open(path, "rb", block_size=1 << 16) as fh, Image.open(fh) as img:
            return has_alpha(img)
    except Exception:  # noqa: BLE001 - unreadable: the read stage reports it
        return False


# --- the stages -----------------------------------------------------------------------------------

@contextlib.contextmanager
def fetched(task) -> Iterator:
    """The task with its input fetched into a temporary local file of the same name, dated as the remote
    file (and its XMP sidecar beside it, where it has one)."""
    from ganrt.errors import ImageReadError

    fs, path = filesystem(task.src_url)
    folder = Path(tempfile.mkdtemp(prefix="ganrt-fetch-"))
    try:
        local = folder / Path(task.rel).name
        try:
            fs.get_file(path, str(local))
        except FileNotFoundError:
            raise ImageReadError("file not found (gone since the folder was listed)") from None
        except OSError as exc:
            raise ImageReadError(f"cannot fetch {task.src_url}: {exc}") from None
        if task.src_time_ns is not None:  # the output is dated as its original, as from a local folder
            os.utime(local, ns=(task.src_time_ns, task.src_time_ns))
        if task.sidecar_url is not None:
            side_fs, side_path = filesystem(task.sidecar_url)
            try:
                side_fs.get_file(side_path, str(folder / task.sidecar_url.rsplit("/", 1)[1]))
            except OSError as exc:  # gone or unreadable: the photo's own XMP, as for a local sidecar
                note(task.rel, f"its sidecar cannot be fetched ({exc}); the photo's own XMP is kept")
        yield replace(task, src=local)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def uploading(task) -> Iterator:
    """The task with its output in a temporary local folder; on success every file written there (the
    image, repair's mask) is uploaded beside the planned output."""
    from ganrt.errors import ImageWriteError
    from ganrt.fsutil import is_temp_name

    folder = Path(tempfile.mkdtemp(prefix="ganrt-upload-"))
    try:
        yield replace(task, dst=folder / task.dst.name)
        for file in sorted(folder.iterdir()):
            if is_temp_name(file.name):
                continue
            url = task.dst_mirror.url_of(task.dst.parent / file.name)
            try:
                upload(file, url)
            except OSError as exc:
                raise ImageWriteError(f"cannot upload to {url}: {exc}") from None
    finally:
        shutil.rmtree(folder, ignore_errors=True)
