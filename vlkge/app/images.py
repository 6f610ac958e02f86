"""Thumbnails from the graph folder only, with a neutral placeholder."""
from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw

from ..data.images import open_image

THUMB = 160


def contained_path(root: Path | str | None, rel: str) -> Path | None:
    """``root/rel`` when it resolves (symlinks included) to a file inside ``root``; else None.
    The graph readers already validate image paths; this guards the app against anything else
    (a doctored entity table, a path from a URL)."""
    if not rel or root is None:
        return None
    root_r = Path(root).resolve()
    try:
        p = (root_r / rel).resolve()
    except (OSError, RuntimeError):
        return None
    if root_r != p and root_r not in p.parents:
        return None
    return p if p.is_file() else None


def _png(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="PNG", optimize=False)
    return buf.getvalue()


@lru_cache(maxsize=8)
def placeholder(size: int = THUMB, text: str = "no image") -> bytes:
    """A light grey tile with a simple picture-frame glyph (drawn here, no asset needed)."""
    im = Image.new("RGB", (size, size), (236, 236, 236))
    d = ImageDraw.Draw(im)
    m = size // 4
    d.rectangle([m, m, size - m, size - m], outline=(180, 180, 180), width=max(1, size // 40))
    d.polygon([(m + 4, size - m - 4), (size // 2 - 4, size // 2), (size - m - 4, size - m - 4)],
              fill=(205, 205, 205))
    d.ellipse([size - m - size // 6, m + size // 16, size - m - size // 16, m + size // 6], fill=(205, 205, 205))
    tw = d.textlength(text)
    d.text(((size - tw) / 2, size - m + 6), text, fill=(140, 140, 140))
    return _png(im)


def thumbnail(root: Path | str | None, rel: str, size: int = THUMB) -> tuple[bytes, bool]:
    """(PNG bytes of the image at ``root/rel`` downscaled to fit ``size``, True) or
    (placeholder, False) when it is missing, outside the graph folder or unreadable."""
    p = contained_path(root, rel)
    if p is None:
        return placeholder(size), False
    im, _problem = open_image(p)
    if im is None:
        return placeholder(size, "unreadable"), False
    im.thumbnail((size, size))
    return _png(im), True


def upload_preview(data: bytes, size: int = 320) -> tuple[bytes | None, str]:
    """A downscaled PNG of an uploaded image, or (None, problem) for a bad upload."""
    im, problem = open_image(data)
    if im is None:
        return None, problem
    im.thumbnail((size, size))
    return _png(im), ""
