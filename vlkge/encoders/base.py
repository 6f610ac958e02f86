"""The encoder interface and the one safe way to open an image.

An encoder turns images and texts into float32, L2-normalised feature rows. Images that cannot
be read never raise: they come back as zero rows with ``ok=False`` and a "FILE: problem" line.
"""
from __future__ import annotations

import io
import warnings as _warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Union

import torch
from PIL import Image

# A pixel cap rather than PIL's default so the limit is explicit and the same everywhere; above
# it PIL warns, above twice it raises, and we turn both into "unreadable" (see open_image).
MAX_IMAGE_PIXELS = 90_000_000
Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS

ImageSource = Union[Path, str, bytes]


@contextmanager
def quiet_weight_loading() -> Iterator[None]:
    """Hide transformers' per-tensor "Loading weights" bar: it is noise on a CLI's stderr and in
    the app's server log, and loading a small local model takes well under a second."""
    from transformers.utils import logging as hf_logging
    was = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was:
            hf_logging.enable_progress_bar()


def resolve_device(device: str = "auto") -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        from ..errors import VLKGEError
        raise VLKGEError(f"unknown device {device!r}: use auto, cpu or cuda")
    if device.startswith("cuda") and not torch.cuda.is_available():
        from ..errors import VLKGEError
        raise VLKGEError("device cuda requested but no CUDA GPU is available; use --device cpu")
    return device


def source_name(src: ImageSource, index: int = 0) -> str:
    return f"<upload {index}>" if isinstance(src, (bytes, bytearray)) else str(src)


def open_regular(path: Path | str):
    """Open ``path`` for binary reading only if it is a regular file. Opening is non-blocking, so
    a FIFO or device put where an image was expected is refused instead of hanging the process
    (the reader checks paths when the graph is read, but a file can change after that)."""
    import os
    import stat
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(0, "not a regular file (a FIFO, device or folder?)")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def open_image(src: ImageSource) -> tuple[Image.Image | None, str]:
    """Open, verify and fully decode an image as RGB. Returns (image, "") or (None, problem).

    verify() catches structural corruption cheaply; the second open + load() catches truncated
    data, which verify() does not see. Decompression-bomb warnings are escalated to errors so a
    crafted header cannot make us allocate gigabytes.
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


def l2_normalise(x: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.normalize(x.float(), dim=-1, eps=1e-12)


class Encoder:
    """Base class. Subclasses set the attributes and implement ``encode_pil`` / ``encode_texts``.

    ``joint_space`` is True only when image and text rows are comparable by cosine (CLIP-like).
    ``revision`` changes whenever the weights or preprocessing change, so caches keyed on
    (name, revision) are invalidated.
    """

    name: str = ""
    revision: str = ""
    text_dim: int = 0
    image_dim: int = 0
    joint_space: bool = False
    device: str = "cpu"
    batch_size: int = 32

    def encode_pil(self, images: list[Image.Image]) -> torch.Tensor:
        """[n, image_dim] float32, L2-normalised, on CPU, for already-open RGB images."""
        raise NotImplementedError

    def encode_texts(self, texts: list[str]) -> torch.Tensor:
        """[n, text_dim] float32, L2-normalised, on CPU."""
        raise NotImplementedError

    def encode_images(self, paths: list[ImageSource],
                      warnings: list[str] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode image files (or raw bytes). Returns (features [n, image_dim], ok BoolTensor [n]).

        Rows that failed to open are zeros with ok False; one "FILE: problem" line per failure is
        appended to ``warnings`` when given (and always kept in ``self.last_warnings``).
        """
        feats = torch.zeros(len(paths), self.image_dim, dtype=torch.float32)
        ok = torch.zeros(len(paths), dtype=torch.bool)
        problems: list[str] = []
        for start in range(0, len(paths), self.batch_size):
            chunk = paths[start:start + self.batch_size]
            imgs, rows = [], []
            for j, src in enumerate(chunk):
                im, problem = open_image(src)
                if im is None:
                    problems.append(f"{source_name(src, start + j)}: {problem}")
                else:
                    imgs.append(im)
                    rows.append(start + j)
            if imgs:
                feats[rows] = self.encode_pil(imgs).float().cpu()
                ok[rows] = True
        self.last_warnings = problems
        if warnings is not None:
            warnings.extend(problems)
        return feats, ok

    def info(self) -> dict:
        return {"name": self.name, "revision": self.revision, "text_dim": self.text_dim,
                "image_dim": self.image_dim, "joint_space": self.joint_space, "device": self.device}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, device={self.device!r})"
