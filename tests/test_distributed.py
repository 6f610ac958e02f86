"""torchrun with 2 CPU ranks (gloo) trains the same model as one process, within tolerance."""
import json
import subprocess
import sys

import pytest

from helpers import make_chain_graph

pytestmark = pytest.mark.slow  # torchrun, two ranks training 100 epochs

ARGS = ["--modalities", "structural", "--model", "complex", "--epochs", "100", "--eval-every", "20",
        "--dim", "32", "--lr", "0.01", "--quiet"]


def test_two_gloo_ranks_match_single_process(tmp_path):
    g = make_chain_graph(tmp_path / "g", n=30, holdout_every=5)
    one = subprocess.run([sys.executable, "-m", "vlkge", "train", "--data", str(g), "--out", str(tmp_path / "r1"), *ARGS],
                         capture_output=True, text=True, timeout=300)
    assert one.returncode == 0, one.stderr
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                          "-m", "vlkge", "train", "--data", str(g), "--out", str(tmp_path / "r2"), *ARGS],
                         capture_output=True, text=True, timeout=300)
    assert two.returncode == 0, two.stderr[-2000:]
    c1 = json.loads((tmp_path / "r1" / "config.json").read_text())
    c2 = json.loads((tmp_path / "r2" / "config.json").read_text())
    assert c1["world_size"] == 1 and c2["world_size"] == 2
    m1 = json.loads((tmp_path / "r1" / "metrics.json").read_text())["test"]
    m2 = json.loads((tmp_path / "r2" / "metrics.json").read_text())["test"]
    assert abs(m1["mrr"] - m2["mrr"]) < 0.1, (m1["mrr"], m2["mrr"])
    assert m1["mrr"] > 0.5 and m2["mrr"] > 0.5  # both learned: chance is about 0.14
