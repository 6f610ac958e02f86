"""The CLI end to end on a tiny graph: validate, train, evaluate, predict."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vlkge.cli import build_parser, main


def test_validate_summary(art_graph, capsys):
    assert main(["validate", str(art_graph)]) == 0
    out = capsys.readouterr().out
    assert "entities: 57" in out and "artwork 48" in out and "isCreatedByArtist" in out


def test_validate_reports_bad_file_in_one_line(tmp_path, capsys):
    (tmp_path / "entities.csv").write_text("id,type,label,description,image\na,t,A,,\n")
    (tmp_path / "triples.csv").write_text("head,relation,tail,mode\na,r,b,train\n")
    assert main(["validate", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "triples.csv:2" in err[0] and "'b'" in err[0]


def test_train_evaluate_predict(art_graph, tmp_path, capsys):
    run = tmp_path / "run"
    rc = main(["train", "--data", str(art_graph), "--out", str(run), "--model", "distmult", "--dim", "16",
               "--epochs", "10", "--eval-every", "5", "--modalities", "structural", "--adversarial-temperature",
               "0.5", "--quiet"])
    assert rc == 0 and (run / "model.safetensors").exists()
    assert json.loads((run / "config.json").read_text())["train"]["adversarial_temperature"] == 0.5
    capsys.readouterr()
    assert main(["evaluate", str(run), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert {"mrr", "mr", "hits@1", "hits@3", "hits@10", "per_relation"} <= set(res)
    assert res["protocol"] == "tail-candidates" and set(res["per_relation"]) == {"isCreatedByArtist", "hasStyle"}
    assert res["filter"] == "directed"
    # the authors' filter only ever removes competitors, so no rank can get worse
    assert main(["evaluate", str(run), "--json", "--filter", "undirected"]) == 0
    und = json.loads(capsys.readouterr().out)
    assert und["filter"] == "undirected" and und["mr"] <= res["mr"] and und["count"] == res["count"]
    assert main(["predict", str(run), "--head", "artwork_0_3", "--relation", "hasStyle", "--json",
                 "--include-known"]) == 0
    preds = json.loads(capsys.readouterr().out)
    assert len(preds) == 3 and {p["entity"] for p in preds} == {"style_impressionism", "style_baroque", "style_ukiyo-e"}
    assert [p["known"] for p in preds].count("train") == 1
    # a second train into the same folder must not clobber the run
    assert main(["train", "--data", str(art_graph), "--out", str(run), "--epochs", "1", "--quiet"]) == 1
    assert "already holds a run" in capsys.readouterr().err


def test_module_entry_point_and_unknown_entity(art_graph, tmp_path):
    p = subprocess.run([sys.executable, "-m", "vlkge", "predict", str(tmp_path / "nope"), "--head", "x",
                        "--relation", "r"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 1 and p.stderr.count("\n") == 1 and "not a run directory" in p.stderr


# Runs ``python -m vlkge ARGS`` in this interpreter and prints, last, which torch modules it loaded.
ENTRY_POINT_IMPORTS = """
import json, runpy, sys
sys.argv = ["vlkge", *sys.argv[1:]]
try:
    runpy.run_module("vlkge", run_name="__main__", alter_sys=True)
except SystemExit as e:
    assert e.code in (0, None), e.code
print(json.dumps(sorted(m for m in sys.modules if m == "torch" or m.startswith("torch."))))
"""


@pytest.mark.parametrize("argv", [["--help"], ["--version"], ["evaluate", "--help"], ["predict", "--help"],
                                  ["validate", "--help"], ["download", "--help"]])
def test_help_does_not_import_torch(argv):
    """Help and the version come back without loading torch (seconds of start-up): only ``train``
    builds flags from the scorers."""
    repo = str(Path(__file__).resolve().parents[1])
    p = subprocess.run([sys.executable, "-c", ENTRY_POINT_IMPORTS, *argv], capture_output=True, text=True,
                       timeout=120, cwd=repo, env={**os.environ, "PYTHONPATH": repo})
    assert p.returncode == 0, p.stderr
    out = p.stdout.strip().splitlines()
    assert "vlkge" in p.stdout and json.loads(out[-1]) == [], out[-1]


def test_fetching_and_writing_files_import_no_torch():
    """``vlkge download`` and the catalogue importer's modules need no tensors (vlkge.data loads
    its graph names on first use)."""
    code = ("import sys, vlkge.data.download, vlkge.data.collection, vlkge.cli\n"
            "print('torch' in sys.modules)")
    repo = str(Path(__file__).resolve().parents[1])
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=repo,
                       env={**os.environ, "PYTHONPATH": repo})
    assert p.returncode == 0 and p.stdout.split() == ["False"], (p.stdout, p.stderr)


def test_version_and_whole_flag_names_only(capsys):
    from vlkge.version import __version__
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.strip() == f"vlkge {__version__}"
    # an abbreviation is refused, not taken for the flag it starts
    with pytest.raises(SystemExit) as e:
        main(["evaluate", "some-run", "--spl", "val"])
    assert e.value.code == 2 and "unrecognized arguments: --spl" in capsys.readouterr().err


def test_every_train_flag_comes_from_a_config_field_with_help_and_its_default(capsys):
    from dataclasses import fields
    from vlkge.training.config import TrainConfig
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    for f in fields(TrainConfig):
        if f.name != "eval_max_queries":  # no flag: a validation cost, not a hyperparameter
            assert f"--{f.name.replace('_', '-')}" in text, f.name
    assert "--dim DIM embedding dimension (default: 256; scorer-dependent: transe 512)" in text
    assert "(default: 0.005; scorer-dependent: transe 0.05, rotate 0.01)" in text  # --lr
    assert "(default: off; scorer-dependent: transe on)" in text  # --tie-inverse-relations
    assert "--batch-size BATCH_SIZE positive triples per step (default: 1024)" in text
    commands = next(a for a in build_parser()._actions if a.dest == "command").choices
    for name, parser in commands.items():  # every flag of every command says what it does
        assert all(a.help for a in parser._actions), (name, [a.dest for a in parser._actions if not a.help])
        assert not parser.allow_abbrev, name
    with pytest.raises(SystemExit):
        main(["evaluate", "--help"])
    assert "(default: test)" in capsys.readouterr().out


def test_train_flags_map_onto_the_config(art_graph, tmp_path):
    from vlkge.cli import config_overrides
    args = build_parser().parse_args(["train", "--out", "x", "--no-tie-inverse-relations", "--filter-negatives",
                                      "--modalities", "structural, textual", "--lr", "0.1", "--p", "2"])
    assert config_overrides(args) == {"tie_inverse_relations": False, "filter_negatives": True,
                                      "modalities": ["structural", "textual"], "lr": 0.1, "p": 2}
    assert config_overrides(build_parser().parse_args(["train", "--out", "x"])) == {}


def test_predict_from_text_alone_and_close_matches_for_an_unknown_entity(art_graph, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--data", str(art_graph), "--out", str(run), "--model", "distmult", "--dim", "16",
                 "--epochs", "2", "--eval-every", "2", "--modalities", "structural,textual", "--encoder", "offline",
                 "--quiet"]) == 0
    capsys.readouterr()
    assert main(["predict", str(run), "--relation", "hasStyle", "--text", "Harbour at dawn by Claude Monet",
                 "--json", "--top-k", "3"]) == 0
    preds = json.loads(capsys.readouterr().out)
    assert len(preds) == 3 and all(p["entity"].startswith("style_") for p in preds)
    assert main(["predict", str(run), "--relation", "hasStyle"]) == 1
    assert "--head, --tail, --image or --text" in capsys.readouterr().err
    # a label, a part of one, or a misspelt id: the closest entities are offered
    assert main(["predict", str(run), "--relation", "hasStyle", "--head", "Berthe"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no entity 'Berthe'" in err and "did you mean artist_3 (Berthe Morisot)" in err
    assert main(["predict", str(run), "--relation", "isCreatedByArtist", "--tail", "artst_1"]) == 1
    assert "did you mean artist_1 (Rembrandt van Rijn)" in capsys.readouterr().err
    assert main(["predict", str(run), "--relation", "hasStyle", "--head", "zzzzzz"]) == 1
    assert "did you mean" not in capsys.readouterr().err
