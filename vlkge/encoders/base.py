"""The encoder interface.

An encoder turns images and texts into float32, L2-normalised feature rows. Images that cannot
be read never raise: they come back as zero rows with ``ok=False`` and a "FILE: problem" line.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
from PIL import Image

from ..data.images import ImageSource, open_image


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


def source_name(src: ImageSource, index: int = 0) -> str:
    return f"<upload {index}>" if isinstance(src, (bytes, bytearray)) else str(src)


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

    @property
    def description(self) -> str:
        """What the encoder is, in words (a subclass may set its own); the class docstring's
        first line by default."""
        return (type(self).__doc__ or self.name).strip().splitlines()[0]

    def info(self) -> dict:
        """The record a run keeps of its encoder (read back by encoders.info.EncoderInfo)."""
        return {"name": self.name, "revision": self.revision, "text_dim": self.text_dim,
                "image_dim": self.image_dim, "joint_space": self.joint_space, "device": self.device,
                "description": self.description}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, device={self.device!r})"
