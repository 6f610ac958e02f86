"""OMP_WAIT_POLICY=PASSIVE, set by ``import vlkge``, cannot reach a torch imported before it: that
case is detected, told in one line, and vlkge falls back to one torch thread (no idle team to spin)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHOW = "import torch; print(torch.get_num_threads(), os.environ.get('OMP_WAIT_POLICY'))"


def run(code: str, **env: str) -> subprocess.CompletedProcess:
    e = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS")}
    e.update(env, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-c", f"import os\n{code}\n{SHOW}"], capture_output=True,
                          text=True, env=e, timeout=300, cwd=REPO)


def test_torch_imported_first_is_warned_once_and_single_threaded():
    p = run("import torch\nimport vlkge\nimport vlkge.cli")
    assert p.returncode == 0, p.stderr
    lines = [x for x in p.stderr.splitlines() if "OMP_WAIT_POLICY" in x]
    assert len(lines) == 1 and lines[0].startswith("warning: torch was imported before vlkge"), p.stderr
    assert p.stdout.split()[0] == "1"


@pytest.mark.parametrize("code,env", [("import vlkge\nimport torch", {}),
                                      ("import torch\nimport vlkge", {"OMP_WAIT_POLICY": "PASSIVE"})])
def test_no_warning_when_the_policy_reached_torch(code, env):
    p = run(code, **env)
    assert p.returncode == 0, p.stderr
    assert "OMP_WAIT_POLICY" not in p.stderr, p.stderr
    assert p.stdout.split()[1] == "PASSIVE"


def test_an_explicit_thread_count_is_kept():
    p = run("import torch\nimport vlkge", OMP_NUM_THREADS="2")
    assert "warning: torch was imported before vlkge" in p.stderr
    assert p.stdout.split()[0] == "2"
