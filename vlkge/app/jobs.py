"""Training a run in the background, for the app.

Training inside a Streamlit script dies with the script: a page switch, a rerun or a closed tab
stops it. Here it runs in its own process (``python -m vlkge.app.jobs``) that reports through
``status.json`` in a hidden ``.training`` folder beside the graph's runs, and moves the finished
run into place at the end, so a half-trained run is never listed and never picked. Creating that
folder is the lock: one training per graph at a time, whichever session started it.

Status states: ``running`` (fraction, message), ``done`` (run, mrr), ``failed`` (error), and
``dismissed`` once cleared. A job whose process is gone without saying so reads as failed.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import traceback
import uuid
from dataclasses import dataclass
from pathlib import Path

from ..atomic import atomic_write_json
from ..data.graph import Graph
from ..errors import VLKGEError
from ..curation.audit import default_audit_path
from .runs import discover_runs, new_run_path, runs_dir
from .training import default_train_config, train_for_app

JOB_FOLDER = ".training"
STATUS_FILE = "status.json"
LOG_FILE = "log.txt"
_children: dict[str, subprocess.Popen] = {}  # jobs this process started, by job id: exits are reaped


@dataclass
class TrainingJob:
    folder: Path

    def status(self) -> dict:
        if not self.folder.is_dir():
            return {"state": "dismissed", "fraction": 1.0, "message": "dismissed"}
        try:
            s = json.loads((self.folder / STATUS_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            s = {}
        s = {"state": "running", "fraction": 0.0, "message": "starting", **(s if isinstance(s, dict) else {})}
        if s["state"] == "running" and not _alive(s, self.folder):
            s.update(state="failed",
                     error="training stopped unexpectedly (the process is gone: out of memory, or killed?)")
        return s

    def dismiss(self) -> None:
        """Forget a finished or failed job (its run, if any, is already in place)."""
        if self.status()["state"] == "running":
            raise VLKGEError("training is still running")
        shutil.rmtree(self.folder, ignore_errors=True)


def current_job(graph: Graph) -> TrainingJob | None:
    """The graph's training job, running or finished and not yet dismissed."""
    if graph.root is None:
        return None
    folder = runs_dir(graph.root) / JOB_FOLDER
    return TrainingJob(folder) if folder.is_dir() else None


def start_training(graph: Graph, spec: str, epochs: int, modalities: list[str] | None = None,
                   model: str | None = None, settings: dict | None = None) -> TrainingJob:
    """Start training the graph loaded from ``spec`` in a background process, with default settings
    for the chosen scorer (default: the default scorer) and modalities (default: all it has), but
    ``settings`` (see default_train_config).

    Raises VLKGEError for a bad setting, or when a job for this graph is already there (running or
    not dismissed)."""
    if graph.root is None:
        raise VLKGEError("only a graph loaded from a folder can be trained from the app")
    default_train_config(epochs, model, settings)  # a bad setting is said here, not by a failed job
    folder = runs_dir(graph.root) / JOB_FOLDER
    folder.parent.mkdir(parents=True, exist_ok=True)
    try:
        folder.mkdir()
    except FileExistsError:
        raise VLKGEError("a training job for this graph is already there: wait for it or dismiss it") from None
    job = uuid.uuid4().hex
    atomic_write_json(folder / STATUS_FILE, {"job": job, "state": "running", "fraction": 0.0,
                                             "message": "starting", "started": time.time()})
    cmd = [sys.executable, "-m", "vlkge.app.jobs", job, spec, str(folder), str(int(epochs)),
           ",".join(modalities or []), model or "", json.dumps(settings or {})]
    with open(folder / LOG_FILE, "wb") as log:
        # Its own session: the job outlives a restarted app server and ignores its Ctrl-C.
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    _children[job] = proc
    return TrainingJob(folder)


def _alive(status: dict, folder: Path) -> bool:
    proc = _children.get(status.get("job"))
    if proc is not None:
        return proc.poll() is None
    pid = status.get("pid")
    if pid is None:
        # Started by another app process and not yet reporting (the child writes its pid first
        # thing, after its imports): give it a moment.
        try:
            return time.time() - (folder / STATUS_FILE).stat().st_mtime < 60
        except OSError:
            return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError, TypeError, OverflowError):
        return isinstance(pid, int)
    return True


def _run(job: str, spec: str, folder: Path, epochs: int, modalities: list[str], model: str | None,
         settings: dict) -> int:
    from ..data.readers import load_graph

    status = {"job": job, "state": "running", "pid": os.getpid(), "fraction": 0.0, "message": "loading the graph",
              "started": time.time()}

    def write(**kw) -> None:
        status.update(kw, updated=time.time())
        atomic_write_json(folder / STATUS_FILE, status)

    write()
    try:
        os.nice(5)  # the app's own requests come first on a small machine
    except OSError:
        pass
    try:
        graph = load_graph(spec)
        last = [0.0]

        def update(p) -> None:
            now = time.monotonic()
            if now - last[0] >= 0.5:
                write(fraction=round(p.fraction, 4), message=p.message)
                last[0] = now

        # the curators' verdicts so far teach the new run; it is compared with the newest run
        store = default_audit_path(graph.root)
        runs = discover_runs(graph)
        metrics = train_for_app(graph, folder / "run", epochs=epochs, on_update=update,
                                modalities=modalities or None, model=model, settings=settings,
                                verdicts=store if store.is_file() else None,
                                previous=runs[0].path if runs else None)
        final = new_run_path(graph.root, model)
        while final.exists():  # two runs finishing in the same second
            time.sleep(1)
            final = new_run_path(graph.root, model)
        os.rename(folder / "run", final)
        mrr = (metrics.get("test") or {}).get("mrr")
        write(state="done", fraction=1.0, run=str(final), mrr=mrr,
              message=f"test MRR {mrr:.3f}" if isinstance(mrr, float) else "no test split to score")
        return 0
    except VLKGEError as e:
        write(state="failed", error=str(e))
    except BaseException as e:  # noqa: BLE001 - the page must learn of any end, the log keeps the trace
        traceback.print_exc()
        write(state="failed", error=f"internal error ({type(e).__name__}: {e}); details in {folder / LOG_FILE}")
    return 1


if __name__ == "__main__":
    job_id, spec, folder, epochs, modalities, model, settings = sys.argv[1:8]
    sys.exit(_run(job_id, spec, Path(folder), int(epochs), [m for m in modalities.split(",") if m], model or None,
                  json.loads(settings)))
