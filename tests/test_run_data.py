"""A run finds the graph it was trained on from any working directory, and refuses any other."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import make_art_graph

import vlkge
from vlkge.cli import main

ARTISTS = {"artist_0", "artist_1", "artist_2"}


def train_tiny(cwd: Path, data: str, out: str) -> Path:
    """Train from ``cwd`` with paths as a curator types them (relative to where they stand)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(cwd)
        assert main(["train", "--data", data, "--out", out, "--epochs", "2", "--eval-every", "1", "--dim", "16",
                     "--modalities", "structural", "--quiet"]) == 0
    return cwd / out


def cli(capsys, *args) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


def predicted_artists(capsys, run: Path, *extra) -> set[str]:
    rc, out, err = cli(capsys, "predict", run, "--head", "artwork_0_2", "--relation", "isCreatedByArtist",
                       "--include-known", "--json", *extra)
    assert rc == 0, err
    return {p["entity"] for p in json.loads(out)}


def renamed_copy(graph: Path, dest: Path) -> Path:
    """The same graph, shape for shape, with other artwork ids: a different vocabulary."""
    dest.mkdir(parents=True)
    for name in ("entities.csv", "triples.csv"):
        (dest / name).write_text((graph / name).read_text().replace("artwork_", "painting_"))
    return dest


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    proj = tmp_path_factory.mktemp("proj")
    make_art_graph(proj / "data" / "art", n_artists=3, per_artist=4)
    train_tiny(proj, "data/art", "runs/r")
    return proj


def test_config_records_the_absolute_graph_path(project):
    config = json.loads((project / "runs" / "r" / "config.json").read_text())
    assert config["data"]["source"] == str(project / "data" / "art")


def test_evaluate_and_predict_from_another_directory(project, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    rc, out, err = cli(capsys, "evaluate", project / "runs" / "r", "--json")
    assert rc == 0, err
    assert json.loads(out)["count"] > 0
    # the artist of an artwork is an artist: the candidates come from the run's own graph
    assert predicted_artists(capsys, project / "runs" / "r") == ARTISTS


def test_old_run_with_a_relative_path_is_found_beside_it(project, tmp_path, monkeypatch, capsys):
    old = tmp_path / "proj"
    shutil.copytree(project, old)
    cfg = old / "runs" / "r" / "config.json"
    config = json.loads(cfg.read_text())
    config["data"]["source"] = "data/art"  # what runs recorded before they recorded absolute paths
    cfg.write_text(json.dumps(config))
    monkeypatch.chdir(tmp_path)
    run = vlkge.load_run(old / "runs" / "r")
    assert run.graph is not None and Path(run.graph.source) == old / "data" / "art"
    assert predicted_artists(capsys, old / "runs" / "r") == ARTISTS


def test_run_moved_with_its_graph_still_loads(tmp_path, monkeypatch, capsys):
    make_art_graph(tmp_path / "a" / "art", n_artists=3, per_artist=4)
    train_tiny(tmp_path / "a", "art", "art/runs/r")
    (tmp_path / "a").rename(tmp_path / "b")  # the recorded path is gone
    monkeypatch.chdir(tmp_path)
    run = vlkge.load_run(tmp_path / "b" / "art" / "runs" / "r")
    assert Path(run.graph.source) == tmp_path / "b" / "art"
    assert predicted_artists(capsys, tmp_path / "b" / "art" / "runs" / "r") == ARTISTS
    assert run.evaluate("test")["count"] > 0

    # the run alone, far from any graph: scoring works, but a prediction that needs the graph says so
    shutil.copytree(tmp_path / "b" / "art" / "runs" / "r", tmp_path / "alone")
    alone = vlkge.load_run(tmp_path / "alone")
    assert alone.graph is None and alone.score_tails(["artwork_0_2"], "isCreatedByArtist").shape == (1, 18)
    rc, out, err = cli(capsys, "predict", tmp_path / "alone", "--head", "artwork_0_2", "--relation",
                       "isCreatedByArtist")
    assert rc == 1 and out == "" and err.count("\n") == 1
    assert "graph" in err and str(tmp_path / "a" / "art") in err and "--data" in err
    # ... and with the graph named, it predicts
    assert predicted_artists(capsys, tmp_path / "alone", "--data", tmp_path / "b" / "art") == ARTISTS


def test_a_different_graph_of_the_same_shape_is_refused(project, tmp_path, capsys):
    other = renamed_copy(project / "data" / "art", tmp_path / "other")
    with pytest.raises(vlkge.VLKGEError) as e:
        vlkge.load_run(project / "runs" / "r", data=other)
    msg = str(e.value)
    assert "\n" not in msg and str(project / "runs" / "r") in msg and str(other) in msg
    assert "artwork_0_0" in msg and "painting_0_0" in msg  # what differs
    rc, out, err = cli(capsys, "evaluate", project / "runs" / "r", "--data", other)
    assert rc == 1 and out == "" and err.count("\n") == 1 and err.startswith("error: ")


def test_relations_in_another_order_are_refused(project, tmp_path):
    """Same entities, same relation names, other indices: the run's relation 0 would be the
    graph's relation 1."""
    config = json.loads((project / "runs" / "r" / "config.json").read_text())
    first, second = config["relations"][:2]
    dest = tmp_path / "swapped"
    dest.mkdir()
    shutil.copy(project / "data" / "art" / "entities.csv", dest)
    lines = (project / "data" / "art" / "triples.csv").read_text().splitlines()
    body = sorted(lines[1:], key=lambda ln: ln.split(",")[1] != second)  # the second relation first
    (dest / "triples.csv").write_text("\n".join([lines[0], *body]) + "\n")
    with pytest.raises(vlkge.VLKGEError, match=f"relation 0 is '{second}', the run's is '{first}'"):
        vlkge.load_run(project / "runs" / "r", data=dest)


def test_a_different_graph_at_the_recorded_path_is_refused(tmp_path):
    make_art_graph(tmp_path / "art", n_artists=3, per_artist=4)
    run = train_tiny(tmp_path, "art", "run")
    shutil.rmtree(tmp_path / "art")
    make_art_graph(tmp_path / "src", n_artists=3, per_artist=4)
    renamed_copy(tmp_path / "src", tmp_path / "art")
    with pytest.raises(vlkge.VLKGEError, match="does not match the run"):
        vlkge.load_run(run)


def test_cli_refusal_is_one_line_from_a_fresh_interpreter(project, tmp_path):
    other = renamed_copy(project / "data" / "art", tmp_path / "other")
    env = {k: v for k, v in os.environ.items() if k != "VLKGE_DEBUG"}
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parents[1]), env.get("PYTHONPATH", "")])
    p = subprocess.run([sys.executable, "-m", "vlkge", "predict", str(project / "runs" / "r"), "--data", str(other),
                        "--head", "artwork_0_2", "--relation", "isCreatedByArtist"], capture_output=True, text=True,
                       timeout=120, cwd=tmp_path, env=env, stdin=subprocess.DEVNULL)
    assert p.returncode == 1 and p.stdout == "" and p.stderr.count("\n") == 1
    assert p.stderr.startswith("error: ") and "does not match the run" in p.stderr


def test_the_app_lists_only_runs_of_its_graph(project, tmp_path):
    from vlkge.data.readers import load_graph
    from vlkge.app.runs import discover_runs
    run = project / "runs" / "r"
    assert [r.path for r in discover_runs(load_graph(project / "data" / "art"), extra=[run])] == [run]
    other = load_graph(renamed_copy(project / "data" / "art", tmp_path / "other"))
    assert other.num_entities == len(json.loads((run / "config.json").read_text())["entities"])
    assert discover_runs(other, extra=[run]) == []


@pytest.mark.parametrize("version", [1, 2])
def test_a_published_graph_loads_back_from_its_source(tmp_path, monkeypatch, version):
    """What a run records for WikiArt-MKG (``wikiart-mkg-v2:/abs/…triples.csv``) loads again."""
    from vlkge.data.readers import load_graph
    folder = tmp_path / "w" / f"v{version}"
    folder.mkdir(parents=True)
    (folder / f"wikiart_mkg_v{version}_triples.csv").write_text(
        "head,relation,tail,mode\naw_1,isCreatedByArtist,claude-monet,train\naw_2,isCreatedByArtist,claude-monet,test\n"
        "aw_1,isRelatedToArtwork,aw_2,train\n")
    monkeypatch.chdir(tmp_path / "w")
    g = load_graph(f"v{version}")
    assert g.source == f"wikiart-mkg-v{version}:{folder / f'wikiart_mkg_v{version}_triples.csv'}"
    monkeypatch.chdir(tmp_path)
    back = load_graph(g.source)
    assert back.entities == g.entities and back.relations == g.relations
    assert back.excluded_from_eval == g.excluded_from_eval
