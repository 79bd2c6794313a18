"""A photo's words outside EXIF, XMP and IPTC: PNG text chunks, JPEG and GIF comments; read, and carried over.

PNG keeps them in ``tEXt``/``zTXt``/``iTXt`` chunks of registered keywords (PNG spec 11.3.4): GIMP writes
a Comment, scanning and cataloguing tools a Title, Author, Description or Copyright. JPEG and GIF have one
comment (JPEG's ``COM`` segment, where scanner software notes the scan). They are read as {keyword: text}
(a comment as "Comment"). A PNG output gets them back as chunks (``metadata.png_text_chunks``), a JPEG its
comment as a ``COM`` segment; the rest go into the EXIF tags that mean the same (Title or Description →
ImageDescription, Author → Artist, Copyright → Copyright, Comment → UserComment) where the EXIF does not
already say them. What is metadata of another kind (the XMP packet, ImageMagick's raw EXIF/IPTC
profiles, ganrt's own frame rate) is not text here.
"""

from __future__ import annotations

NOT_TEXT = ("XML:com.adobe.xmp",)
NOT_TEXT_PREFIXES = ("Raw profile type ", "ganrt ")
IMAGE_DESCRIPTION, ARTIST, COPYRIGHT = 0x010E, 0x013B, 0x8298
EXIF_IFD, USER_COMMENT = 0x8769, 0x9286
TO_EXIF = (("Description", IMAGE_DESCRIPTION), ("Title", IMAGE_DESCRIPTION), ("Author", ARTIST),
           ("Copyright", COPYRIGHT))


def of_image(img) -> dict[str, str] | None:
    """The words of an opened (and loaded) image, {keyword: text}: a PNG's text chunks, a JPEG's or GIF's
    comment; None where it has none."""
    if img.format == "PNG":
        text = {str(k): str(v) for k, v in (getattr(img, "text", None) or {}).items()
                if k not in NOT_TEXT and not str(k).startswith(NOT_TEXT_PREFIXES) and str(v).strip()}
    elif img.format in ("JPEG", "GIF") and isinstance(comment := img.info.get("comment"), bytes):
        text = {"Comment": _decoded(comment)} if comment.strip(b"\x00 \r\n") else {}
    else:
        return None
    return text or None


def _decoded(raw: bytes) -> str:
    """A comment's bytes as text: UTF-8 where they are, else Latin-1 (every byte a character)."""
    raw = raw.rstrip(b"\x00")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def split_for(suffix: str, text: dict[str, str] | None) -> tuple[dict[str, str] | None, dict[str, str] | None]:
    """(the words the output format keeps itself, the words for its EXIF): a PNG keeps all as chunks, a
    JPEG its comment as a COM segment; everything else goes to EXIF."""
    if not text:
        return None, None
    if suffix == ".png":
        return text, None
    own = {"Comment": text["Comment"]} if suffix in (".jpg", ".jpeg") and "Comment" in text else {}
    rest = {k: v for k, v in text.items() if k not in own}
    return own or None, rest or None


def into_exif(parsed, text: dict[str, str]) -> bool:
    """Make a Pillow ``Exif`` say, in place, the texts EXIF has a tag for, where it did not say them
    already; whether it changed."""
    changed = False
    for keyword, tag in TO_EXIF:
        if keyword in text and not parsed.get(tag):  # UTF-8, held as Pillow holds text it read (Latin-1)
            parsed[tag], changed = text[keyword].encode("utf-8").decode("latin-1"), True
    if "Comment" in text:
        sub = parsed.get_ifd(EXIF_IFD)
        if not sub.get(USER_COMMENT):
            sub[USER_COMMENT] = _user_comment(text["Comment"], getattr(parsed, "endian", None))
            if EXIF_IFD not in parsed:
                parsed[EXIF_IFD] = sub
            changed = True
    return changed


def _user_comment(text: str, endian: str | None) -> bytes:
    """EXIF UserComment: an 8-byte character code, then the text: ASCII, or UTF-16 ("UNICODE") in the byte
    order Pillow writes the EXIF block in (little-endian where its ``endian`` is "<", else big), as exiftool
    reads it."""
    if text.isascii():
        return b"ASCII\x00\x00\x00" + text.encode("ascii")
    return b"UNICODE\x00" + text.encode("utf-16-le" if endian == "<" else "utf-16-be")
