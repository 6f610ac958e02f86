"""CLIP-family encoders (CLIP, SigLIP/SigLIP2, ALIGN) through transformers' Auto classes.

Weights are only ever read from a local directory or the local Hugging Face cache
(``local_files_only=True``): this module never reaches the network.
"""
from __future__ import annotations

import hashlib
import inspect
from pathlib import Path

import torch
from PIL import Image

from ..device import resolve_device
from ..errors import VLKGEError
from .base import Encoder, l2_normalise, quiet_weight_loading

DEFAULT_CLIP = "openai/clip-vit-base-patch32"
_FINGERPRINT_FILES = ("config.json", "preprocessor_config.json", "processor_config.json",
                      "tokenizer_config.json", "tokenizer.json", "vocab.json")


def _first_line(e: BaseException) -> str:
    s = str(e).strip()
    return (s.splitlines()[0] if s else type(e).__name__)[:200]


def _dir_revision(d: Path) -> str:
    """Content fingerprint of a local checkpoint without reading gigabytes: configs in full,
    weight files by size plus their first and last MiB."""
    h = hashlib.sha256()
    for name in _FINGERPRINT_FILES:
        f = d / name
        if f.is_file():
            h.update(name.encode() + f.read_bytes())
    for f in sorted(list(d.glob("*.safetensors")) + list(d.glob("*.bin"))):
        size = f.stat().st_size
        h.update(f"{f.name}:{size}".encode())
        with open(f, "rb") as fh:
            h.update(fh.read(1 << 20))
            if size > 2 << 20:
                fh.seek(-(1 << 20), 2)
                h.update(fh.read())
    return h.hexdigest()[:12]


def _pooled(out) -> torch.Tensor:
    # transformers 5 returns an output object whose pooler_output is the projected embedding;
    # older versions (and some models) return the tensor itself.
    if isinstance(out, torch.Tensor):
        return out
    pooled = getattr(out, "pooler_output", None)
    if pooled is None:
        pooled = out[0] if isinstance(out, (tuple, list)) else out.last_hidden_state[:, 0]
    return pooled


class ClipEncoder(Encoder):
    """Any CLIP-like dual encoder with ``get_image_features`` / ``get_text_features``."""

    joint_space = True

    def __init__(self, model: str = DEFAULT_CLIP, device: str = "auto", batch_size: int = 32):
        from transformers import AutoImageProcessor, AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        self.device = resolve_device(device)
        self.batch_size = batch_size
        local = Path(model).expanduser()
        is_dir = local.is_dir()
        src = str(local.resolve()) if is_dir else model
        self.name = f"clip:{src if is_dir else model}"
        verbosity = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()  # "some weights were not used" noise is not for users
        try:
            with quiet_weight_loading():
                self.model = AutoModel.from_pretrained(src, local_files_only=True)
            self.image_processor = AutoImageProcessor.from_pretrained(src, local_files_only=True)
            self.tokenizer = AutoTokenizer.from_pretrained(src, local_files_only=True)
        except Exception as e:  # transformers raises OSError/ValueError/... for missing files
            if is_dir:
                raise VLKGEError(f"cannot load a CLIP-family model from {src}: {_first_line(e)}") from None
            raise VLKGEError(
                f"CLIP weights for {model} are not in the local Hugging Face cache; "
                f"download them on a connected machine (huggingface-cli download {model}) and copy "
                f"the cache here, or pass --encoder clip:/path/to/dir, or use --encoder offline") from None
        finally:
            hf_logging.set_verbosity(verbosity)
        if not (hasattr(self.model, "get_image_features") and hasattr(self.model, "get_text_features")):
            raise VLKGEError(f"{src} is a {type(self.model).__name__}, not a CLIP-like image-text "
                             "model (no get_image_features/get_text_features)")
        self.model.eval().to(self.device)
        cfg = self.model.config
        self.revision = _dir_revision(local) if is_dir else (getattr(cfg, "_commit_hash", None) or "unknown")
        text_cfg = getattr(cfg, "text_config", cfg)
        self.max_length = int(getattr(text_cfg, "max_position_embeddings", 0) or 77)
        tok_max = getattr(self.tokenizer, "model_max_length", None)
        if isinstance(tok_max, int) and 0 < tok_max < 100_000:
            self.max_length = min(self.max_length, tok_max)
        # SigLIP was trained on max_length-padded text; its embeddings shift under other padding.
        self.pad_to_max = "siglip" in getattr(cfg, "model_type", "")
        # CLIP rejects token_type_ids, ALIGN (BERT) uses them: pass what the signature takes.
        params = inspect.signature(self.model.get_text_features).parameters
        self._text_args = {k for k in ("input_ids", "attention_mask", "token_type_ids") if k in params}
        # Probing beats reading configs: projection sizes are named differently per family.
        self.image_dim = int(self.encode_pil([Image.new("RGB", (32, 32))]).shape[1])
        self.text_dim = int(self.encode_texts(["a"]).shape[1])

    @torch.inference_mode()
    def encode_pil(self, images: list[Image.Image]) -> torch.Tensor:
        if not images:
            return torch.zeros(0, self.image_dim)
        outs = []
        cuda = self.device.startswith("cuda")
        for s in range(0, len(images), self.batch_size):
            batch = [im if im.mode == "RGB" else im.convert("RGB") for im in images[s:s + self.batch_size]]
            pix = self.image_processor(images=batch, return_tensors="pt")["pixel_values"].to(self.device)
            with torch.autocast("cuda", dtype=torch.float16, enabled=cuda):
                out = _pooled(self.model.get_image_features(pixel_values=pix))
            outs.append(l2_normalise(out).cpu())
        return torch.cat(outs)

    @torch.inference_mode()
    def encode_texts(self, texts: list[str]) -> torch.Tensor:
        if not texts:
            return torch.zeros(0, self.text_dim)
        outs = []
        for s in range(0, len(texts), self.batch_size):
            enc = self.tokenizer(list(texts[s:s + self.batch_size]), truncation=True,
                                 max_length=self.max_length,
                                 padding="max_length" if self.pad_to_max else True,
                                 return_tensors="pt")
            enc = {k: v.to(self.device) for k, v in enc.items() if k in self._text_args}
            out = _pooled(self.model.get_text_features(**enc))
            outs.append(l2_normalise(out).cpu())
        return torch.cat(outs)
