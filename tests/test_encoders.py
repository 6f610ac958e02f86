"""Encoders: a tiny CLIP built on the fly, the offline encoder, and unreadable images."""
from __future__ import annotations

import json
import socket
import struct
import zlib
from pathlib import Path

import pytest
import torch
from PIL import Image

from helpers import shared
from vlkge.encoders import load_encoder
from vlkge.data.images import open_image
from vlkge.errors import VLKGEError

def _bytes_to_unicode() -> dict[int, str]:
    bs = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
          + list(range(ord("®"), ord("ÿ") + 1)))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory) -> Path:
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPTokenizer
    d = tmp_path_factory.mktemp("tinyclip")
    chars = list(_bytes_to_unicode().values())
    vocab = {c: i for i, c in enumerate(chars)}
    vocab.update({c + "</w>": len(chars) + i for i, c in enumerate(chars)})
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    (d / "vocab.json").write_text(json.dumps(vocab))
    (d / "merges.txt").write_text("#version: 0.2\n")
    tok = CLIPTokenizer(str(d / "vocab.json"), str(d / "merges.txt"))
    cfg = CLIPConfig(
        text_config=dict(vocab_size=len(vocab), hidden_size=32, intermediate_size=37,
                         num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=77,
                         bos_token_id=len(vocab) - 2, eos_token_id=len(vocab) - 1,
                         pad_token_id=len(vocab) - 1),
        vision_config=dict(image_size=32, patch_size=8, hidden_size=32, intermediate_size=37,
                           num_hidden_layers=2, num_attention_heads=4),
        projection_dim=16)
    torch.manual_seed(0)
    CLIPModel(cfg).save_pretrained(d)
    tok.save_pretrained(d)
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(d)
    return d


@pytest.fixture()
def no_network(monkeypatch, tmp_path):
    """Offline mode, an empty HF cache, and a socket that records any connection attempt."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    attempts = []

    def connect(self, *a, **k):
        attempts.append(a)
        raise OSError("network disabled in tests")
    monkeypatch.setattr(socket.socket, "connect", connect)
    return attempts


def _png(path: Path, size=(40, 30), color=(200, 30, 30)) -> Path:
    Image.new("RGB", size, color).save(path)
    return path


def _png_header_claiming(path: Path, w: int, h: int) -> Path:
    """A tiny PNG whose header claims w x h pixels (a decompression bomb's calling card)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", w, h, 1, 0, 0, 0, 0)
    raw = zlib.compress(b"\x00" * 64)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", raw) + chunk(b"IEND", b""))
    return path


@pytest.fixture()
def bad_images(tmp_path) -> dict[str, Path]:
    good = _png(tmp_path / "good.png")
    jpg = tmp_path / "good.jpg"
    Image.new("RGB", (64, 64), (10, 120, 200)).save(jpg, quality=90)
    data = jpg.read_bytes()
    (tmp_path / "truncated.jpg").write_bytes(data[: len(data) // 2])
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "garbage.png").write_bytes(b"this is not an image at all" * 10)
    return {"good": good, "good_jpg": jpg, "truncated": tmp_path / "truncated.jpg",
            "empty": tmp_path / "empty.png", "garbage": tmp_path / "garbage.png",
            "bomb": _png_header_claiming(tmp_path / "bomb.png", 20000, 20000),
            "bomb_warn": _png_header_claiming(tmp_path / "bomb2.png", 10000, 10000),
            "missing": tmp_path / "does-not-exist.png"}


# ------------------------------------------------------------------ CLIP


def test_tiny_clip_from_local_dir(tiny_clip, no_network, bad_images):
    enc = load_encoder(f"clip:{tiny_clip}", device="cpu")
    assert enc.joint_space and enc.name.startswith("clip:") and enc.revision
    assert (enc.text_dim, enc.image_dim) == (16, 16)
    texts = ["a red square", "a painting of a harbour at dawn " * 40]  # second exceeds 77 tokens
    t1, t2 = enc.encode_texts(texts), enc.encode_texts(texts)
    assert t1.shape == (2, 16) and t1.dtype == torch.float32
    assert torch.allclose(t1.norm(dim=1), torch.ones(2), atol=1e-5)
    assert torch.equal(t1, t2)
    paths = [bad_images["good"], bad_images["garbage"], bad_images["good_jpg"]]
    warns: list[str] = []
    feats, ok = enc.encode_images(paths, warnings=warns)
    assert feats.shape == (3, 16) and ok.tolist() == [True, False, True]
    assert torch.allclose(feats[ok].norm(dim=1), torch.ones(2), atol=1e-5)
    assert torch.all(feats[1] == 0) and len(warns) == 1 and warns[0].startswith(str(bad_images["garbage"]))
    pil = enc.encode_pil([Image.open(bad_images["good"])])
    assert torch.allclose(pil[0], feats[0], atol=1e-5)
    assert no_network == []


def test_missing_hub_weights_is_one_line_error(no_network):
    with pytest.raises(VLKGEError) as e:
        load_encoder("clip:nobody-here/no-such-clip-model", device="cpu")
    msg = str(e.value)
    assert "\n" not in msg and "not in the local Hugging Face cache" in msg and "--encoder offline" in msg
    assert no_network == []


def test_auto_falls_back_to_offline(no_network):
    enc = load_encoder("auto", device="cpu")
    assert enc.name.startswith("offline:") and not enc.joint_space
    assert no_network == []


def test_unknown_spec():
    with pytest.raises(VLKGEError):
        load_encoder("word2vec")


# ------------------------------------------------------------------ offline


@pytest.fixture(scope="module")
def offline():
    return load_encoder("offline", device="cpu")


def test_minilm_text_similarity(offline):
    e = offline.encode_texts(["A portrait of a woman in a blue dress",
                              "Painting of a lady wearing a blue gown",
                              "Quarterly revenue of the semiconductor industry"])
    assert e.shape == (3, 384)
    assert torch.allclose(e.norm(dim=1), torch.ones(3), atol=1e-5)
    sim = e @ e.T
    assert sim[0, 1] > sim[0, 2] + 0.2


def test_descriptor_shapes_and_determinism(offline, bad_images):
    paths = [bad_images["good"], bad_images["good_jpg"]]
    a, ok = offline.encode_images(paths)
    b, _ = offline.encode_images(paths)
    assert a.shape == (2, offline.image_dim) and ok.all() and torch.equal(a, b)
    assert torch.allclose(a.norm(dim=1), torch.ones(2), atol=1e-5)
    assert (a[0] @ a[1]) < 0.999  # different colours, different descriptors
    # odd sizes and modes are fine
    odd = offline.encode_pil([Image.new("L", (7, 300), 128), Image.new("RGBA", (500, 3))])
    assert odd.shape == (2, offline.image_dim) and torch.isfinite(odd).all()


def test_unreadable_images_never_crash(offline, bad_images):
    names = list(bad_images)
    warns: list[str] = []
    feats, ok = offline.encode_images([bad_images[n] for n in names], warnings=warns)
    expected = {n: n.startswith("good") for n in names}
    assert dict(zip(names, ok.tolist())) == expected
    assert torch.all(feats[~ok] == 0)
    assert len(warns) == sum(not v for v in expected.values())
    text = "\n".join(warns)
    assert "decompression bomb" in text and "empty file" in text and "truncated" in text
    assert all("\n" not in w for w in warns)


def test_bytes_and_bomb_via_open_image(bad_images):
    im, problem = open_image(bad_images["good"].read_bytes())
    assert im is not None and im.mode == "RGB" and problem == ""
    im, problem = open_image(bad_images["bomb"].read_bytes())
    assert im is None and "decompression bomb" in problem


def test_descriptor_separates_styles_on_wikiart(offline):
    root = shared("wikiart-mini")
    import csv
    styles: dict[str, str] = {}
    with open(root / "triples.csv", newline="") as f:
        for row in csv.DictReader(f):
            if row["relation"] == "hasStyle" and row["tail"] in ("style_ukiyo-e", "style_impressionism", "style_baroque"):
                styles.setdefault(row["head"], row["tail"])
    per = {}
    for head, st in sorted(styles.items()):
        per.setdefault(st, [])
        if len(per[st]) < 25:
            per[st].append(head)
    ids = [h for hs in per.values() for h in hs]
    feats, ok = offline.encode_images([root / "images" / f"{h}.jpg" for h in ids])
    assert ok.all()
    sim = feats @ feats.T
    sim.fill_diagonal_(-2)
    nn = sim.argmax(1).tolist()
    acc = sum(styles[ids[i]] == styles[ids[j]] for i, j in enumerate(nn)) / len(ids)
    assert acc > 0.55, acc  # chance is 1/3


def test_loading_minilm_prints_no_weight_loading_bar(capfd):
    from transformers.utils import logging as hf_logging
    enc = load_encoder("offline", device="cpu")
    enc.encode_texts(["a harbour at dawn"])  # the model loads on first use
    assert "Loading weights" not in capfd.readouterr().err
    assert hf_logging.is_progress_bar_enabled()  # other code keeps its progress bars


def test_encoder_info_reads_the_run_record_once():
    from vlkge.encoders.info import EncoderInfo, imported_name
    old_offline = EncoderInfo.from_record({"name": "offline:minilm+descriptor-v1", "joint_space": False})
    # an old offline run rebuilds the variant it was trained with (the descriptor alone for images)
    assert (old_offline.kind, old_offline.spec, old_offline.vision_language) == \
        ("offline", "offline:minilm+descriptor-v1", False)
    assert load_encoder(old_offline.spec, device="cpu").image_features == "descriptor"
    assert old_offline.description == "offline:minilm+descriptor-v1"  # a record from before descriptions
    clip = EncoderInfo.from_record({"name": "clip:openai/clip-vit-base-patch32", "joint_space": True,
                                    "description": "CLIP ViT-B/32"})
    assert (clip.kind, clip.spec, clip.vision_language, clip.description) == \
        ("clip", "clip:openai/clip-vit-base-patch32", True, "CLIP ViT-B/32")
    imported = EncoderInfo.from_record({"name": "imported:authors", "joint_space": False})
    assert (imported.kind, imported.spec) == ("imported", None)
    assert EncoderInfo.from_record({"name": None}).kind == EncoderInfo.from_record(None).kind == "none"
    assert imported_name("imported:authors") == "authors" and imported_name("offline") is None
    record = load_encoder("offline", device="cpu").info()  # what a run saves: its own description
    info = EncoderInfo.from_record(record)
    assert info.kind == "offline" and info.description == record["description"] != record["name"]


# ------------------------------------------------------------------ static text table


def test_static_text_rows_are_minilm_on_each_token_and_distilled_once(tmp_path, monkeypatch):
    """The static model's table row of a token is MiniLM's own sentence vector of that token
    alone; rows are distilled only for tokens the texts use, cached, and reused by a new
    encoder object (as in a new process)."""
    monkeypatch.setenv("VLKGE_CACHE", str(tmp_path / "cache"))
    from vlkge.encoders.text import COMMON_WORDS, StaticText, TransformerText
    from vlkge.encoders.offline import minilm_dir
    st = StaticText(minilm_dir())
    a = st.encode(["harbour at dawn", "harbour at dusk"])
    first = st.distilled
    tok = st.tokenizer()
    common = set(COMMON_WORDS.tolist())
    assert first == len(common | {i for t in ["harbour at dawn", "harbour at dusk"]
                                  for i in tok.encode(t, add_special_tokens=False).ids})
    st.encode(["harbour at dawn"])
    assert st.distilled == first  # nothing new to distil
    again = StaticText(minilm_dir())
    assert torch.allclose(again.encode(["harbour at dawn", "harbour at dusk"]), a, atol=1e-6)
    assert again.distilled == 0, "the cached rows were distilled again"
    # oracle: the transformer's embedding of the one-token text ("dawn" is one WordPiece token)
    (dawn,) = tok.encode("dawn", add_special_tokens=False).ids
    row = torch.nn.functional.normalize(again.rows(torch.tensor([dawn]))[dawn], dim=0)
    full = TransformerText(minilm_dir(), "cpu").encode(["dawn"])[0]
    assert torch.dot(row, full) > 0.999
    # a damaged cache file is ignored (and rewritten), not fatal
    again.table_path().write_bytes(b"garbage")
    third = StaticText(minilm_dir())
    assert torch.allclose(third.encode(["harbour at dawn"]), a[:1], atol=1e-5)
    assert third.distilled == len(common | set(tok.encode("harbour at dawn", add_special_tokens=False).ids))


def test_offline_text_models_have_their_own_feature_cache_key():
    static, full = load_encoder("offline:static", device="cpu"), load_encoder("offline", device="cpu")
    assert static.text_model == "static" and full.text_model == "transformer"
    # the static table is the default only where the transformer would take minutes (a museum's catalogue)
    from vlkge.encoders.offline import STATIC_TEXT_ABOVE
    assert load_encoder("offline", device="cpu", n_texts=STATIC_TEXT_ABOVE + 1).text_model == "static"
    assert load_encoder("offline", device="cpu", n_texts=STATIC_TEXT_ABOVE).text_model == "transformer"
    assert (static.name, static.revision) != (full.name, full.revision)
    from vlkge.errors import VLKGEError
    with pytest.raises(VLKGEError, match="unknown offline encoder"):
        load_encoder("offline:bogus", device="cpu")
