"""Feature store (cache hits, resume, content keys, concurrency) and safe feature import."""
from __future__ import annotations

import hashlib
import os
import pickle
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import shared
from vlkge.data.graph import Graph
from vlkge.encoders.base import Encoder
from vlkge.encoders.import_features import import_features, load_feature_pickle, load_imported
from vlkge.encoders.store import FeatureStore, extract_features
from vlkge.errors import DataError

class CountingEncoder(Encoder):
    """Deterministic fake features; counts model calls and items, can fail on a given call."""

    name = "test:counting"
    revision = "r1"
    image_dim = 8
    text_dim = 6

    def __init__(self, fail_on_call: int | None = None):
        self.calls = 0
        self.items = 0
        self.fail_on_call = fail_on_call

    def _tick(self, n: int) -> None:
        self.calls += 1
        if self.fail_on_call is not None and self.calls == self.fail_on_call:
            raise KeyboardInterrupt("simulated interruption")
        self.items += n

    @staticmethod
    def _vec(seed: bytes, dim: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(int.from_bytes(hashlib.sha256(seed).digest()[:6], "big"))
        return torch.nn.functional.normalize(torch.randn(dim, generator=g), dim=0)

    def encode_pil(self, images):
        self._tick(len(images))
        return torch.stack([self._vec(im.tobytes(), self.image_dim) for im in images])

    def encode_texts(self, texts):
        self._tick(len(texts))
        return torch.stack([self._vec(t.encode(), self.text_dim) for t in texts])


def make_graph(root: Path, n: int = 10, corrupt: int | None = None) -> Graph:
    (root / "images").mkdir(parents=True, exist_ok=True)
    images = []
    for i in range(n):
        if i == n - 1:
            images.append("")  # last entity: no image
            continue
        p = root / "images" / f"e{i}.png"
        if i == corrupt:
            p.write_bytes(b"\x89PNG\r\n\x1a\n broken")
        else:
            Image.new("RGB", (16, 16), (i * 20 % 256, 100, 255 - i * 20 % 256)).save(p)
        images.append(f"images/e{i}.png")
    labels = [f"entity {i}" for i in range(n)]
    labels[0] = ""  # no text at all
    return Graph(entities=[f"e{i}" for i in range(n)], relations=["r"], types=["t"] * n,
                 labels=labels, descriptions=[""] * n, images=images,
                 triples={"train": torch.tensor([[0, 0, 1]])}, root=root, fingerprint=f"fp{n}")


def test_second_call_is_all_cache_hits(tmp_path):
    g = make_graph(tmp_path / "g", corrupt=3)
    store = FeatureStore(tmp_path / "cache")
    enc = CountingEncoder()
    for modality, dim in (("visual", 8), ("textual", 6)):
        first = extract_features(g, enc, modality, store=store, batch_size=4, progress=False)
        feats, mask = first
        assert feats.shape == (10, dim) and feats.dtype == torch.float32
        calls = enc.calls
        # a fresh store object on the same folder, as in a new process
        again = extract_features(g, enc, modality, store=FeatureStore(tmp_path / "cache"),
                                 batch_size=4, progress=False)
        assert enc.calls == calls, "a warm cache must not call the encoder"
        assert torch.equal(again.features, feats) and torch.equal(again.mask, mask)
        assert again.stats["computed"] == 0 and again.warnings == first.warnings
    vis = extract_features(g, enc, "visual", store=store, progress=False)
    assert vis.mask.tolist() == [True, True, True, False] + [True] * 5 + [False]
    assert torch.all(vis.features[~vis.mask] == 0)
    assert any("e3.png" in w and "e3" in w for w in vis.warnings)
    assert any("no image" in w for w in vis.warnings)
    txt = extract_features(g, enc, "textual", store=store, progress=False)
    assert txt.mask.tolist() == [False] + [True] * 9 and any("no text" in w for w in txt.warnings)
    files = [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    assert files and all(p.suffix == ".safetensors" and p.name.startswith("shard-") for p in files)
    from vlkge.atomic import UMASK
    # a cache shared by several users (the app's account, a curator's shell) is readable by them
    assert {p.stat().st_mode & 0o777 for p in files} == {0o666 & ~UMASK}


def test_interrupted_extraction_resumes(tmp_path):
    g = make_graph(tmp_path / "g", n=12)
    store = FeatureStore(tmp_path / "cache")
    progress = []
    with pytest.raises(KeyboardInterrupt):
        extract_features(g, CountingEncoder(fail_on_call=3), "visual", store=store, batch_size=3,
                         progress=False, callback=lambda d, t: progress.append((d, t)))
    assert progress == [(0, 11), (3, 11), (6, 11)]
    enc = CountingEncoder()
    res = extract_features(g, enc, "visual", store=FeatureStore(tmp_path / "cache"), batch_size=3,
                           progress=False)
    assert enc.items == 11 - 6 and res.stats == {**res.stats, "hits": 6, "computed": 5}
    fresh = extract_features(g, CountingEncoder(), "visual", store=FeatureStore(tmp_path / "fresh"),
                             progress=False)
    assert torch.equal(res.features, fresh.features) and torch.equal(res.mask, fresh.mask)


def test_keys_follow_content(tmp_path):
    g = make_graph(tmp_path / "g")
    store = FeatureStore(tmp_path / "cache")
    enc = CountingEncoder()
    before = extract_features(g, enc, "visual", store=store, progress=False)
    Image.new("RGB", (16, 16), (1, 2, 3)).save(tmp_path / "g" / "images" / "e2.png")
    enc.items = 0
    after = extract_features(g, enc, "visual", store=store, progress=False)
    assert enc.items == 1
    assert not torch.equal(before.features[2], after.features[2])
    assert torch.equal(before.features[[0, 1, 3]], after.features[[0, 1, 3]])
    g.labels[5] = "something else"
    enc.items = 0
    extract_features(g, enc, "textual", store=store, progress=False)
    extract_features(g, enc, "textual", store=store, progress=False)
    assert enc.items == 9  # first textual run: all 9 texts; second: none
    # a new encoder revision is a separate cache
    enc2 = CountingEncoder()
    enc2.revision = "r2"
    extract_features(g, enc2, "visual", store=store, progress=False)
    assert enc2.items == 9


def test_concurrent_writers_do_not_corrupt(tmp_path):
    g = make_graph(tmp_path / "g", n=30)
    errors = []

    def work():
        try:
            extract_features(g, CountingEncoder(), "visual", store=FeatureStore(tmp_path / "cache"),
                             batch_size=2, progress=False)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)
    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    enc = CountingEncoder()
    res = extract_features(g, enc, "visual", store=FeatureStore(tmp_path / "cache"), progress=False)
    assert enc.calls == 0 and res.mask.sum() == 29
    assert not list((tmp_path / "cache").rglob(".tmp-*"))


# ------------------------------------------------------------------ import


class Evil:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_import_numpy_pickle_and_lists(tmp_path):
    g = make_graph(tmp_path / "g")
    rng = np.random.default_rng(0)
    arrays = {f"e{i}": rng.standard_normal(5).astype(np.float32) for i in range(4)}
    table = dict(arrays)
    table["e4"] = [torch.ones(5), torch.zeros(5)]            # several features: averaged
    table["e5"] = np.stack([np.ones(5), 3 * np.ones(5)])     # [k, dim] array: averaged
    table["stranger"] = np.ones(5, dtype=np.float32)
    pkl = tmp_path / "feats.pkl"
    with open(pkl, "wb") as f:
        pickle.dump(table, f)
    loaded = load_feature_pickle(pkl)
    assert torch.allclose(loaded["e4"], torch.full((5,), 0.5))
    assert torch.allclose(loaded["e5"], torch.full((5,), 2.0))
    store = FeatureStore(tmp_path / "cache")
    summary = import_features(pkl, g, "visual", store=store)
    assert summary["matched"] == 6 and summary["unmatched"] == ["stranger"] and summary["dim"] == 5
    feats, mask = load_imported(g, "visual", "feats", store=store)
    assert mask.tolist() == [True] * 6 + [False] * 4
    assert torch.allclose(feats[0], torch.nn.functional.normalize(torch.from_numpy(arrays["e0"]), dim=0))
    res = extract_features(g, "imported:feats", "visual", store=store)
    assert torch.equal(res.features, feats)


def test_import_torch_zip_file(tmp_path):
    g = make_graph(tmp_path / "g")
    pt = tmp_path / "clipfeats.pt"
    torch.save({"e1": torch.arange(4.0), "e2": [torch.ones(4), torch.ones(4)]}, pt)
    summary = import_features(pt, g, "textual", encoder_name="imported:clipfeats",
                              store=FeatureStore(tmp_path / "cache"))
    assert summary["matched"] == 2 and summary["dim"] == 4


def test_refuses_code_in_pickles(tmp_path):
    marker = tmp_path / "pwned"
    pkl = tmp_path / "evil.pkl"
    pkl.write_bytes(pickle.dumps({"e0": Evil(marker)}))
    with pytest.raises(DataError) as e:
        load_feature_pickle(pkl)
    assert "refused to unpickle posix.system" in str(e.value) or "refused to unpickle os.system" in str(e.value)
    pt = tmp_path / "evil.pt"
    torch.save({"e0": Evil(marker)}, pt)
    with pytest.raises(DataError):
        load_feature_pickle(pt)
    assert not marker.exists()
    (tmp_path / "junk.pkl").write_bytes(b"\x80\x04junk")
    with pytest.raises(DataError):
        load_feature_pickle(tmp_path / "junk.pkl")


@pytest.mark.slow  # every wikiart-mini entity
def test_wikiart_extraction_smoke(tmp_path):
    root = shared("wikiart-mini")
    from vlkge.data.readers import load_graph
    g = load_graph(root)
    enc = CountingEncoder()
    res = extract_features(g, enc, "visual", store=FeatureStore(tmp_path / "cache"), progress=False)
    assert res.features.shape == (g.num_entities, 8)
    assert torch.equal(res.mask, g.has_image)
