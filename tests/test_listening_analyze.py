"""`python -m neshmm.listening analyze`: answers joined with the key, Wilson intervals."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest

from neshmm.listening import main, wilson

KEY = {
    "test": "t1",
    "clips": {"m0": {"source": "model"}, "m1": {"source": "model"}, "j0": {"source": "joint"},
              "r0": {"source": "reference"}},
    "pairs": [],
}


def write_csv(path: Path, rows: list[tuple]) -> Path:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["test", "listener", "pair", "a", "b", "choice", "position", "answered_at"])
        for r in rows:
            w.writerow(r)
    return path


@pytest.mark.parametrize("k,n", [(0, 10), (3, 10), (8, 10), (10, 10), (1, 1), (37, 60)])
def test_wilson_matches_scipy(k, n):
    from scipy.stats import binomtest

    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    assert wilson(k, n) == pytest.approx((ci.low, ci.high), abs=1e-12)
    assert all(math.isnan(x) for x in wilson(0, 0))


def test_preferences_per_pair_type_from_clip_ids(tmp_path, capsys):
    key = tmp_path / "key.json"
    key.write_text(json.dumps(KEY))
    rows = [
        # model vs joint: model chosen 1 of 4 here (sides vary)
        ("t1", "ann", 0, "m0", "j0", "j0", "B", "x"), ("t1", "ann", 1, "j0", "m1", "j0", "A", "x"),
        ("t1", "bob", 0, "m0", "j0", "m0", "A", "x"), ("t1", "bob", 1, "j0", "m1", "j0", "A", "x"),
        # model vs reference: reference chosen twice
        ("t1", "ann", 2, "m0", "r0", "r0", "B", "x"), ("t1", "bob", 2, "r0", "m1", "r0", "A", "x"),
    ]
    answers = write_csv(tmp_path / "a.csv", rows)
    # A second download of ann's answers, with pair 0 changed: counted once, the last.
    again = write_csv(tmp_path / "b.csv", [("t1", "ann", 0, "m0", "j0", "m0", "A", "y")])
    assert main(["analyze", str(answers), str(again), "--key", str(key)]) == 0
    out = capsys.readouterr().out
    assert "6 answers from 2 listener(s)" in out
    lo, hi = wilson(2, 4)
    assert f"| model vs joint: model preferred | 4 | 2 | 0.500 | [{lo:.3f}, {hi:.3f}] |" in out
    lo, hi = wilson(0, 2)
    assert f"| model vs reference: model preferred | 2 | 0 | 0.000 | [{lo:.3f}, {hi:.3f}] |" in out
    assert "clip A chosen 5 of 6" in out


@pytest.mark.parametrize(
    "row,message",
    [(("t2", "ann", 0, "m0", "j0", "j0", "B", "x"), "answers to test 't2', but the key is for test 't1'"),
     (("t1", "ann", 0, "m0", "zz", "m0", "A", "x"), "clip id 'zz' (b) is not in the key"),
     (("t1", "ann", 0, "m0", "j0", "r0", "A", "x"), "choice 'r0' is neither clip of the pair")],
)
def test_bad_answers_are_one_line_errors(tmp_path, capsys, row, message):
    key = tmp_path / "key.json"
    key.write_text(json.dumps(KEY))
    assert main(["analyze", str(write_csv(tmp_path / "a.csv", [row])), "--key", str(key)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_missing_key_and_non_csv(tmp_path, capsys):
    assert main(["analyze", str(write_csv(tmp_path / "a.csv", [])), "--key", str(tmp_path / "none.json")]) == 2
    assert "key not found; run `dvc repro render`" in capsys.readouterr().err
    (tmp_path / "k.json").write_text(json.dumps(KEY))
    (tmp_path / "x.csv").write_text("foo,bar\n1,2\n")
    assert main(["analyze", str(tmp_path / "x.csv"), "--key", str(tmp_path / "k.json")]) == 2
    assert "not a listening-test CSV" in capsys.readouterr().err
