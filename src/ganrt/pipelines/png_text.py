"""A PNG's text chunks (Title, Author, Description, Copyright, Comment …): read, and carried into the output.

PNG keeps a photo's words in ``tEXt``/``zTXt``/``iTXt`` chunks of registered keywords (PNG spec 11.3.4):
GIMP writes a Comment, scanning and cataloguing tools a Title, Author, Description or Copyright. A PNG
output gets them back as chunks (``metadata.png_text_chunks``); another format gets the ones EXIF has a
tag for (Title or Description → ImageDescription, Author → Artist, Copyright → Copyright, Comment →
UserComment) where its EXIF does not already say them. What is metadata of another kind (the XMP packet,
ImageMagick's raw EXIF/IPTC profiles, ganrt's own frame rate) is not text here.
"""

from __future__ import annotations

NOT_TEXT = ("XML:com.adobe.xmp",)
NOT_TEXT_PREFIXES = ("Raw profile type ", "ganrt ")
IMAGE_DESCRIPTION, ARTIST, COPYRIGHT = 0x010E, 0x013B, 0x8298
EXIF_IFD, USER_COMMENT = 0x8769, 0x9286
TO_EXIF = (("Description", IMAGE_DESCRIPTION), ("Title", IMAGE_DESCRIPTION), ("Author", ARTIST),
           ("Copyright", COPYRIGHT))


def of_image(img) -> dict[str, str] | None:
    """The text chunks of an opened (and loaded) PNG, {keyword: text}; None for other formats or none."""
    if img.format != "PNG":
        return None
    text = {str(k): str(v) for k, v in (getattr(img, "text", None) or {}).items()
            if k not in NOT_TEXT and not str(k).startswith(NOT_TEXT_PREFIXES) and str(v).strip()}
    return text or None


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
            sub[USER_COMMENT] = _user_comment(text["Comment"])
            if EXIF_IFD not in parsed:
                parsed[EXIF_IFD] = sub
            changed = True
    return changed


def _user_comment(text: str) -> bytes:
    """EXIF UserComment: an 8-byte character code, then the text (ASCII, or UTF-16 as "UNICODE" says)."""
    if text.isascii():
        return b"ASCII\x00\x00\x00" + text.encode("ascii")
    return b"UNICODE\x00" + text.encode("utf-16-be")
