"""The CLI end to end on a tiny graph: validate, train, evaluate, predict."""
import json
import subprocess
import sys

from vlkge.cli import main


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
