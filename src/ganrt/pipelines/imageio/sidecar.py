"""XMP sidecars: the captions, keywords, people and ratings a photo manager keeps beside a photo.

digiKam ("write to sidecar files only", the setting for read-only archives) and darktable keep them
in ``IMG_0001.jpg.xmp``; Lightroom, Bridge and digiKam's compatible mode in ``IMG_0001.xmp``. These
applications read the sidecar before the photo's own XMP, so it is what the user last wrote: the
restored photo carries the sidecar's packet as its XMP (and takes the orientation it states, which
is how those applications turn a photo they must not rewrite).

The walk lists sidecars as ignored with the photo they belong to; a remote photo's sidecar is fetched
beside it.
"""

from __future__ import annotations

from pathlib import Path

from ganrt.pipelines.imageio.packets import xmp_property
from ganrt.pipelines.notes import note

SUFFIX = ".xmp"
MAX_BYTES = 16 << 20  # larger is not a sidecar a photo manager wrote
_STARTS = (b"<?xpacket begin", b"<x:xmpmeta", b"<rdf:RDF")
_ORIENTATION = xmp_property(b"tiff:Orientation", rb"([1-8])\b")


def names_for(photo_name: str) -> tuple[str, ...]:
    """The sidecar names a photo may have, in the order the applications look: ``name.ext.xmp`` first."""
    stem = photo_name.rsplit(".", 1)[0]
    return tuple(dict.fromkeys((photo_name + SUFFIX, photo_name + ".XMP", stem + SUFFIX, stem + ".XMP")))


def names_among(photo_name: str, siblings: set[str]) -> list[str]:
    """The sidecar names a photo may have that are among the names of its folder, in the same order."""
    return [name for name in names_for(photo_name) if name in siblings]


def find(photo: Path, siblings: set[str] | None = None) -> Path | None:
    """The sidecar of a local photo, or None. ``siblings``: the names in its folder, where known (a walk
    then asks the file system nothing, which counts on a network share)."""
    for name in names_for(photo.name) if siblings is None else names_among(photo.name, siblings):
        candidate = photo.with_name(name)
        try:
            if candidate.is_file():
                return candidate
        except OSError:
            continue
    return None


def packet(data: bytes) -> bytes | None:
    """The XMP packet of a sidecar file's bytes (from ``<?xpacket`` or ``<x:xmpmeta``, without the XML
    declaration a file may start with), or None when it holds none."""
    starts = [i for i in (data.find(s) for s in _STARTS) if i >= 0]
    return data[min(starts):].rstrip() if starts else None


def read(photo: Path) -> bytes | None:
    """The XMP packet of a photo's sidecar, or None (no sidecar, or one that is not XMP: a warning)."""
    path = find(photo)
    if path is None:
        return None
    try:
        if path.stat().st_size > MAX_BYTES:
            raise OSError(f"larger than {MAX_BYTES >> 20} MB")
        found = packet(path.read_bytes())
    except OSError as exc:
        note(photo.name, f"its sidecar {path.name} cannot be read ({getattr(exc, 'strerror', None) or exc}); "
                         "the photo's own XMP is kept")
        return None
    if found is None:
        note(photo.name, f"its sidecar {path.name} holds no XMP packet; the photo's own XMP is kept")
    return found


def orientation(xmp: bytes | None) -> int | None:
    """The ``tiff:Orientation`` an XMP packet states (1–8), or None."""
    found = _ORIENTATION.search(xmp) if xmp else None
    return int(found.group(2)) if found else None


def version_ns(photo: Path, mtime_ns: int, siblings: set[str] | None = None) -> int:
    """What the job state compares to see a photo changed: the later of its time and its sidecar's, so
    that captions edited after a run redo the photo."""
    path = find(photo, siblings)
    if path is None:
        return mtime_ns
    try:
        return max(mtime_ns, path.stat().st_mtime_ns)
    except OSError:
        return mtime_ns


def owner(name: str, siblings: set[str]) -> str | None:
    """For a file named ``name`` among ``siblings`` (the names in its folder), the photo it is the
    sidecar of, or None. Set lookups only: a folder may hold thousands of photos and their sidecars."""
    from ganrt.pipelines.imageio.formats import READ_SUFFIXES

    if not name.lower().endswith(SUFFIX):
        return None
    base = name[: -len(SUFFIX)]
    if base in siblings and Path(base).suffix.lower() in READ_SUFFIXES:
        return base  # IMG_0001.jpg.xmp
    for suffix in READ_SUFFIXES:  # IMG_0001.xmp
        for photo in (base + suffix, base + suffix.upper()):
            if photo in siblings:
                return photo
    return None
