"""The benchmark scripts run and print what they promise (columns, not timings).

The smoke tests run on a tiny generated demo corpus with ``--quick``. The real benchmark
on NES-MDB is marked ``benchmark`` and runs only when asked: ``NESHMM_BENCHMARK=1 pytest
-m benchmark tests/test_benchmarks_smoke.py``. No test here asserts a time.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_module(module: str, *args: str, tmp_path: Path, timeout: float = 900, real: bool = False):
    env = dict(os.environ)
    if not real:
        env["NESMDB_DIR"] = str(tmp_path / "no-nesmdb-here")  # force the demo corpus
    env["TMPDIR"] = str(tmp_path)
    env["PYTHONPATH"] = str(ROOT)
    env.setdefault("PYTHONHASHSEED", "0")
    proc = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout,
    )
    assert proc.returncode == 0, f"{module} failed\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
    return proc.stdout


def test_pipeline_benchmark_quick_prints_every_column(tmp_path):
    # One run covers both sides and the extrapolated baseline (1 timed EM iteration of 4).
    out = run_module(
        "benchmarks.pipeline", "--quick", "--demo", "--n-iter", "4", "--baseline-iters", "1",
        "--json", str(tmp_path / "bench.json"), tmp_path=tmp_path,
    )
    assert "corpus: demo corpus" in out
    for section in ("## BASELINE", "## OURS", "## baseline / ours"):
        assert section in out
    for column in ("wall_s", "cpu_s", "peak_MB", "tokens", "tok/s", "em_iters", "s/iter",
                   "ratio_wall", "ratio_cpu"):
        assert f" {column} " in out, column
    for stage in ("parse", "fit p1 hmm", "markov", "prepare", "tokenize", "train p1 model",
                  "train p1 baseline", "sample", "evaluate", "TOTAL (raw MIDI -> metrics)"):
        assert f"| {stage} " in out, stage
    assert "EXTRAPOLATED from 1 timed iterations to" in out
    assert "load average after" in out
    assert (tmp_path / "bench.json").is_file()


def test_repro_benchmark_prints_the_start_up_of_every_stage(tmp_path):
    out = run_module("benchmarks.repro", "--startup-only", "--repeat", "1", tmp_path=tmp_path)
    assert "| stage" in out and "import_s" in out
    for stage in ("params", "train", "train_joint", "sample", "evaluate", "render"):
        assert f"| {stage} " in out, out


def test_scaling_benchmark_prints_cost_per_t_k2(tmp_path):
    out = run_module(
        "benchmarks.scaling", "--files", "8", "--iters", "1", "--ks", "2", "4", "--fractions", "0.5", "1",
        tmp_path=tmp_path,
    )
    assert "vs n_components" in out and "vs corpus size" in out
    for column in ("wall_s/iter", "cpu_s/iter", "cpu_ns/(T*K^2)"):
        assert column in out


@pytest.mark.benchmark
@pytest.mark.skipif(not os.environ.get("NESHMM_BENCHMARK"), reason="real benchmark; set NESHMM_BENCHMARK=1")
def test_real_benchmark_on_a_nesmdb_subset(tmp_path):
    out = run_module(
        "benchmarks.pipeline", "--files", "300", "--n-iter", "10", "--baseline-iters", "2",
        tmp_path=tmp_path, timeout=3600, real=True,
    )
    assert "## baseline / ours" in out


def test_ngram_orders_benchmark_prints_every_column(tmp_path):
    out = run_module(
        "benchmarks.ngram_orders", "--voices", "p1", "--orders", "1", "2", "--floors", "0.5", "--alphas", "1",
        tmp_path=tmp_path,
    )
    assert "demo corpus" in out
    for column in ("valid log-lik/token", "perplexity", "fit s", "score s", "fit peak MiB", "arrays MiB"):
        assert column in out
    for row in ("markov alpha=1 ", "ngram order=1 floor=0.5", "ngram order=2 floor=0.5"):
        assert row in out


def test_ngram_libraries_benchmark_prints_every_library(tmp_path):
    out = run_module(
        "benchmarks.ngram_libraries", "--order", "2", "--nltk-fraction", "0.2", "--nltk-scores", "20",
        "--nltk-draws", "1", "--lmplz", str(tmp_path / "no-lmplz-here"), tmp_path=tmp_path,
    )
    for row in ("neshmm ngram (numpy)", "kenlm", "nltk.lm KneserNeyInterpolated"):
        assert row in out
    for column in ("fit p1 CPU s", "score p1 valid CPU s", "sample CPU s/1000 tokens", "save without pickle"):
        assert column in out
