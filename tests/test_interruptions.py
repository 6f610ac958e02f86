"""Killing the product (SIGKILL, real processes) never loses work or leaves a half-written run.

Training: a killed ``vlkge train`` leaves either no run (no config.json) or its last complete
checkpoint, loadable with ``load_run``; ``train --resume`` finishes it. Killed right after a
checkpoint, the resumed run ends with exactly the parameters of an uninterrupted one.
Feature extraction: a killed extraction keeps its finished batches; the rerun computes the rest.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import badinput as B
from helpers import make_art_graph, wait_until
from vlkge.cli import main

pytestmark = pytest.mark.slow  # real training processes, killed and resumed

REPO = Path(__file__).resolve().parents[1]
TRAIN = ["--dim", "16", "--modalities", "structural", "--eval-every", "1", "--patience", "100000",
         "--batch-size", "32", "--quiet"]

# Run ``vlkge train`` in a child that SIGKILLs itself at an exact point of the checkpoint
# sequence: the one way to make "killed right after / in the middle of a checkpoint" repeatable.
KILLER = r"""
import json, os, signal, sys
from pathlib import Path
import vlkge.training.trainer as T
import vlkge.runs as R
point, k = sys.argv[1], int(sys.argv[2])
die = lambda: os.kill(os.getpid(), signal.SIGKILL)
orig_state, orig_json = T._save_state, T.atomic_write_json
def save_state(out, *a, **kw):
    orig_state(out, *a, **kw)
    from safetensors import safe_open
    with safe_open(str(out / R.STATE_FILE), framework="pt") as f:
        epoch = json.loads(f.metadata()["state"])["epoch"]
    if point == "after-checkpoint" and epoch == k:
        die()
def write_json(path, obj):
    if point == "before-config" and path.name == R.CONFIG_FILE:
        die()  # model.safetensors of the first checkpoint is written, config.json is not
    orig_json(path, obj)
T._save_state, T.atomic_write_json = save_state, write_json
from vlkge.cli import main
sys.exit(main(sys.argv[3:]))
"""


def _env(tmp_path: Path) -> dict:
    e = {**os.environ, "VLKGE_CACHE": str(tmp_path / "cache")}
    e.pop("VLKGE_DEBUG", None)
    return e


def killed_train(tmp_path, point: str, k: int, graph: Path, out: Path, epochs: int) -> subprocess.CompletedProcess:
    args = ["train", "--data", graph, "--out", out, "--epochs", epochs, *TRAIN]
    p = subprocess.run([sys.executable, "-c", KILLER, point, str(k), *map(str, args)], capture_output=True,
                       text=True, timeout=60, env=_env(tmp_path), cwd=REPO)
    assert p.returncode == -signal.SIGKILL, p.stderr
    return p


def params(run: Path, file: str = "train_state.safetensors") -> dict[str, torch.Tensor]:
    return load_file(str(run / file))


def assert_same(a: dict, b: dict, exact: bool = False) -> None:
    """Same tensors: RNG states and step counts bitwise, float parameters and optimizer moments
    to float32 rounding unless ``exact`` (see test_resume_is_bitwise_exact)."""
    assert a.keys() == b.keys()
    for k in a:
        if exact or not a[k].dtype.is_floating_point:
            assert torch.equal(a[k], b[k]), k
        else:
            assert torch.allclose(a[k], b[k], rtol=1e-5, atol=1e-6), (k, float((a[k] - b[k]).abs().max()))


def state_meta(run: Path) -> dict:
    """The loop counters kept in train_state.safetensors' metadata."""
    from safetensors import safe_open
    with safe_open(str(run / "train_state.safetensors"), framework="pt") as f:
        return json.loads(f.metadata()["state"])


def state_epoch(run: Path) -> int:
    return state_meta(run)["epoch"]


@pytest.fixture(scope="module")
def graph(tmp_path_factory):
    return make_art_graph(tmp_path_factory.mktemp("graph") / "art", n_artists=3, per_artist=5)


@pytest.fixture(scope="module")
def reference(graph, tmp_path_factory):
    """An uninterrupted 6-epoch run, trained in-process (read only)."""
    out = tmp_path_factory.mktemp("ref") / "ref"
    assert main(["train", "--data", str(graph), "--out", str(out), "--epochs", "6", *TRAIN]) == 0
    return out


def test_killed_right_after_a_checkpoint_resumes_to_the_same_parameters(graph, reference, tmp_path, capsys):
    from vlkge.prediction.run import load_run
    out = tmp_path / "run"
    killed_train(tmp_path, "after-checkpoint", 3, graph, out, epochs=6)
    assert state_epoch(out) == 3
    run = load_run(out)  # the last complete checkpoint is a usable run
    assert run.evaluate("test")["count"] > 0
    assert not (out / "metrics.json").exists() or "test" not in json.loads((out / "metrics.json").read_text())
    assert main(["train", "--data", str(graph), "--out", str(out), "--resume", *TRAIN]) == 0
    assert state_epoch(out) == 6
    assert_same(params(out), params(reference))
    assert_same(params(out, "model.safetensors"), params(reference, "model.safetensors"))
    m, ref = (json.loads((d / "metrics.json").read_text()) for d in (out, reference))
    for split in ("val", "test"):
        assert m[split]["mrr"] == pytest.approx(ref[split]["mrr"], abs=1e-6)
    assert [h["epoch"] for h in m["history"]] == [h["epoch"] for h in ref["history"]]
    assert not list(out.glob(".*.tmp"))  # a kill between checkpoints leaves no temp file


def test_default_budget_run_killed_after_its_first_checkpoint_resumes(graph, tmp_path):
    """No --epochs, no --eval-every: the budget decides both; the first checkpoint (the first
    validation) already leaves a usable run, and --resume finishes it."""
    from vlkge.prediction.run import load_run
    from vlkge.training.budget import default_eval_every
    out = tmp_path / "run"
    flags = ["--dim", "16", "--modalities", "structural", "--batch-size", "32", "--quiet"]
    args = ["train", "--data", graph, "--out", out, *flags]
    p = subprocess.run([sys.executable, "-c", KILLER, "after-checkpoint", "10", *map(str, args)], capture_output=True,
                       text=True, timeout=120, env=_env(tmp_path), cwd=REPO)
    assert p.returncode == -signal.SIGKILL, p.stderr
    cfg_epochs = json.loads((out / "config.json").read_text())["train"]["epochs"]
    assert state_epoch(out) == 10 == default_eval_every(cfg_epochs)
    assert load_run(out).evaluate("test")["count"] > 0
    assert main(["train", "--data", str(graph), "--out", str(out), "--resume", *flags]) == 0
    epochs = [h["epoch"] for h in state_meta(out)["history"]]
    assert epochs[0] == 10 and epochs == sorted(set(epochs)) and epochs[-1] <= cfg_epochs
    assert json.loads((out / "metrics.json").read_text())["test"]["count"] > 0


def test_killed_before_the_first_config_leaves_no_run(graph, tmp_path, capsys):
    from vlkge.errors import VLKGEError
    from vlkge.prediction.run import load_run
    from vlkge.runs import is_run
    out = tmp_path / "run"
    killed_train(tmp_path, "before-config", 0, graph, out, epochs=4)
    assert (out / "model.safetensors").exists() and not (out / "config.json").exists()
    assert not is_run(out)
    with pytest.raises(VLKGEError):
        load_run(out)
    capsys.readouterr()
    assert main(["evaluate", str(out)]) == 1
    assert "not a run directory" in capsys.readouterr().err
    # nothing to resume is said in one line; a plain train over the debris just works
    assert main(["train", "--data", str(graph), "--out", str(out), "--epochs", "2", "--resume", *TRAIN]) == 1
    assert "nothing to resume" in capsys.readouterr().err
    assert main(["train", "--data", str(graph), "--out", str(out), "--epochs", "2", *TRAIN]) == 0
    assert state_epoch(out) == 2 and load_run(out).evaluate("test")["count"] > 0


def test_resume_is_bitwise_exact(graph, reference, tmp_path):
    out = tmp_path / "run"
    assert main(["train", "--data", str(graph), "--out", str(out), "--epochs", "3", *TRAIN]) == 0
    assert main(["train", "--data", str(graph), "--out", str(out), "--epochs", "6", "--resume", *TRAIN]) == 0
    assert_same(params(out), params(reference), exact=True)


def test_killed_while_writing_the_state_resumes_exactly(graph, reference, tmp_path, monkeypatch):
    # In-process for speed: the state file of epoch 3 is being written (its temp file exists)
    # when the process dies; what is on disk is epoch 2's complete state.
    import vlkge.training.trainer as T

    class Killed(BaseException):
        pass

    orig = T.atomic_save_tensors

    def save(path, tensors, metadata=None):
        if path.name == "train_state.safetensors" and json.loads(metadata["state"])["epoch"] == 3:
            (path.parent / ".train_state.safetensors.partial.tmp").write_bytes(b"half")
            raise Killed
        orig(path, tensors, metadata)
    out = tmp_path / "run"
    monkeypatch.setattr(T, "atomic_save_tensors", save)
    with pytest.raises(Killed):
        main(["train", "--data", str(graph), "--out", str(out), "--epochs", "6", *TRAIN])
    monkeypatch.setattr(T, "atomic_save_tensors", orig)
    assert state_epoch(out) == 2
    assert main(["train", "--data", str(graph), "--out", str(out), "--resume", *TRAIN]) == 0
    assert_same(params(out), params(reference))


def test_sigkill_at_random_moments_then_resume(graph, tmp_path, monkeypatch):
    """The real thing: a parent SIGKILLs ``vlkge train`` at moments it does not control."""
    from vlkge.prediction.run import load_run
    out = tmp_path / "run"
    monkeypatch.setenv("VLKGE_CACHE", str(tmp_path / "cache"))
    cmd = [sys.executable, "-m", "vlkge", "train", "--data", str(graph), "--out", str(out),
           "--epochs", "100000", *TRAIN]
    # 1. killed while still starting up (torch being loaded): no run at all
    p = subprocess.Popen(cmd, env=_env(tmp_path), cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        maps = Path(f"/proc/{p.pid}/maps")
        if maps.exists():
            wait_until(lambda: p.poll() is not None or "libtorch" in maps.read_text(), 60, "the child to load torch")
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=10)
    assert not (out / "config.json").exists()
    # 2. killed mid-training, at whatever the moment is after a few checkpoints
    last = 0
    for round_ in range(1):
        p = subprocess.Popen(cmd + (["--resume"] if round_ else []), env=_env(tmp_path), cwd=REPO,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

        def checkpointed(last=last):
            if p.poll() is not None:
                return True
            try:
                return state_epoch(out) >= last + 3
            except (FileNotFoundError, json.JSONDecodeError, KeyError):
                return False
        try:
            wait_until(checkpointed, 60, "three checkpoints", every=0.01)
            assert p.poll() is None, p.stderr.read()
        finally:
            p.send_signal(signal.SIGKILL)
            p.wait(timeout=10)
        epoch = state_epoch(out)
        assert epoch >= last + 3
        run = load_run(out)  # whatever the moment, the run dir holds a complete checkpoint
        assert run.evaluate("test")["count"] > 0
        last = epoch
    # 3. resume to a finite end: finishes, with sane epochs and metrics
    end = last + 3
    assert main(cmd[3:cmd.index("--epochs")] + ["--epochs", str(end), "--resume", *TRAIN]) == 0
    assert state_epoch(out) == end
    meta = state_meta(out)
    epochs = [h["epoch"] for h in meta["history"]]
    assert epochs == sorted(set(epochs)) and epochs[-1] == end  # no epoch counted twice or skipped back
    m = json.loads((out / "metrics.json").read_text())
    assert 0 < m["test"]["mrr"] <= 1 and 0 < m["val"]["mrr"] <= 1
    assert json.loads((out / "config.json").read_text())["train"]["epochs"] == end


EXTRACT = r"""
import sys
from vlkge.data.readers import load_graph
from vlkge.encoders.offline import OfflineEncoder
from vlkge.encoders.store import FeatureStore, extract_features
g = load_graph(sys.argv[1])
cb = lambda done, total: print(done, total, flush=True)
extract_features(g, OfflineEncoder(device="cpu"), "visual", store=FeatureStore(sys.argv[2]), batch_size=16,
                 progress=False, callback=cb)
print("finished", flush=True)
"""


def test_killed_feature_extraction_resumes(tmp_path):
    from vlkge.data.readers import load_graph
    from vlkge.encoders.offline import OfflineEncoder
    from vlkge.encoders.store import FeatureStore, extract_features
    folder = B.many_images_graph(tmp_path / "many", n=300)
    store = tmp_path / "store"
    p = subprocess.Popen([sys.executable, "-c", EXTRACT, str(folder), str(store)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=_env(tmp_path), cwd=REPO)
    done = 0
    try:
        for line in p.stdout:
            if line.startswith("finished"):
                break
            done = int(line.split()[0])
            if done >= 64:
                p.send_signal(signal.SIGKILL)
                break
    finally:
        p.kill()
        p.wait(timeout=10)
    assert 64 <= done < 300, "extraction finished before it could be killed"
    g = load_graph(folder)
    res = extract_features(g, OfflineEncoder(device="cpu"), "visual", store=FeatureStore(store),
                           batch_size=64, progress=False)
    assert res.stats["hits"] >= done and res.stats["computed"] == 300 - res.stats["hits"]
    assert res.stats["computed"] < 300
    assert int(res.mask.sum()) == 300  # every artwork; the two artists have no image
    # rows kept from the killed process are the features a fresh encoding gives
    rows = list(range(2, 300, 37))
    fresh, ok = OfflineEncoder(device="cpu").encode_images([g.image_path(i) for i in rows])
    assert bool(ok.all()) and torch.allclose(res.features[rows], fresh, atol=1e-6)


@pytest.mark.parametrize("how", ["truncated-state", "state-meta-without-keys", "other-dim"])
def test_resume_from_damaged_or_mismatched_state_is_one_error_line(how, graph, reference, tmp_path, capsys):
    import shutil
    out = tmp_path / "run"
    shutil.copytree(reference, out)
    extra = []
    if how == "truncated-state":
        f = out / "train_state.safetensors"
        f.write_bytes(f.read_bytes()[:300])
    elif how == "state-meta-without-keys":
        from safetensors.torch import save_file
        f = out / "train_state.safetensors"
        save_file(load_file(str(f)), str(f), metadata={"state": '{"epoch": 3}'})
    else:
        extra = ["--dim", "32"]
    capsys.readouterr()
    assert main(["train", "--data", str(graph), "--out", str(out), "--epochs", "8", "--resume", *TRAIN, *extra]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [x for x in err.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    if how == "truncated-state":
        assert "train_state.safetensors" in lines[0]
    for f in ("model.safetensors", "config.json", "metrics.json"):  # the run itself is left as it was
        assert (out / f).read_bytes() == (reference / f).read_bytes(), f
