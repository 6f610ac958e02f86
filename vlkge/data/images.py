"""The one safe way to open an image, and a check of every image a graph names.

Images come from museum exports and uploads: any of them may be truncated, not an image at all,
a decompression bomb, or a FIFO put where a file was expected. Nothing here raises for those;
each becomes a one-line problem.
"""
from __future__ import annotations

import io
import os
import stat
import warnings as _warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Union

from PIL import Image

# A pixel cap rather than PIL's default so the limit is explicit and the same everywhere; above
# it PIL warns, above twice it raises, and we turn both into "unreadable" (see open_image).
MAX_IMAGE_PIXELS = 90_000_000
Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS

ImageSource = Union[Path, str, bytes]


def open_regular(path: Path | str, follow_symlinks: bool = True):
    """Open ``path`` for binary reading only if it is a regular file. Opening is non-blocking, so
    a FIFO or device put where an image was expected is refused instead of hanging the process
    (the reader checks paths when the graph is read, but a file can change after that).
    ``follow_symlinks=False`` refuses a symlink as the last part of the path."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    fd = os.open(path, flags | (0 if follow_symlinks else getattr(os, "O_NOFOLLOW", 0)))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(0, "not a regular file (a FIFO, device or folder?)")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


OUTSIDE, MISSING, NOT_REGULAR = "outside", "missing", "not a regular file"


def regular_file_inside(root: Path | str, path: Path | str) -> tuple[str | None, str]:
    """(real path, "") when ``path`` (relative to ``root``, or absolute) resolves, after ``..`` and
    symlinks, to a regular file inside ``root``; else (None, OUTSIDE / MISSING / NOT_REGULAR).
    Only stats, never opens: a FIFO cannot block here."""
    real_root = os.path.realpath(root)
    real = os.path.realpath(os.path.join(real_root, path))  # an absolute ``path`` replaces the root
    if os.path.commonpath([real_root, real]) != real_root:
        return None, OUTSIDE
    try:
        st = os.stat(real)
    except OSError:
        return None, MISSING
    return (real, "") if stat.S_ISREG(st.st_mode) else (None, NOT_REGULAR)


def open_image(src: ImageSource, max_side: int | None = None) -> tuple[Image.Image | None, str]:
    """Open, verify and fully decode an image as RGB. Returns (image, "") or (None, problem).

    verify() catches structural corruption cheaply; the second open + load() catches truncated
    data, which verify() does not see. Decompression-bomb warnings are escalated to errors so a
    crafted header cannot make us allocate gigabytes. ``max_side`` lets a JPEG decode at a
    reduced scale (still reading every byte), for checks that do not need the pixels.
    """
    try:
        if isinstance(src, (bytes, bytearray)):
            data = bytes(src)
        else:
            with open_regular(src) as f:
                data = f.read()
    except OSError as e:
        return None, f"cannot read file ({e.strerror or e})"
    if not data:
        return None, "empty file"
    try:
        with _warnings.catch_warnings():
            _warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                im.verify()
            im = Image.open(io.BytesIO(data))
            if max_side:
                im.draft("RGB", (max_side, max_side))
            im.load()
            if im.mode != "RGB":
                # Palette/LA images with transparency: composite on white, as a viewer would.
                if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
                    im = im.convert("RGBA")
                    bg = Image.new("RGB", im.size, (255, 255, 255))
                    bg.paste(im, mask=im.getchannel("A"))
                    im = bg
                else:
                    im = im.convert("RGB")
            return im, ""
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return None, f"image too large (over {MAX_IMAGE_PIXELS:,} pixels): refused as a possible decompression bomb"
    except Image.UnidentifiedImageError:
        return None, "not an image PIL can read"
    except (OSError, SyntaxError, ValueError, EOFError, MemoryError) as e:
        # PIL reports corrupt and truncated streams through these; the message is enough.
        return None, f"corrupt or truncated image ({str(e).splitlines()[0] if str(e) else type(e).__name__})"


def image_problems(graph, workers: int = 4, progress: bool = False) -> list[str]:
    """One "IMAGE FILE: entity ID: problem" line per image of ``graph`` that cannot be decoded
    (the reader has already checked that each path is a non-empty file inside the folder)."""
    from tqdm import tqdm
    todo = [i for i in range(graph.num_entities) if graph.images[i] and graph.root is not None]

    def check(i: int) -> str:
        return open_image(graph.image_path(i), max_side=256)[1]

    with ThreadPoolExecutor(workers) as pool:  # PIL decodes without the GIL
        results = list(tqdm(pool.map(check, todo), total=len(todo), desc="images", unit="img",
                            disable=not progress, leave=False))
    return [f"{graph.image_path(i)}: entity {graph.entities[i]!r}: {problem}; it has no visual modality"
            for i, problem in zip(todo, results) if problem]
