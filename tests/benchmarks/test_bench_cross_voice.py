"""benchmarks/cross_voice.py runs on a demo corpus and prints every metric for every set.

(Named test_bench_cross_voice, not test_cross_voice: pytest's default import mode needs
test file basenames unique across tests/.)
"""

from __future__ import annotations

from helpers import run_module


def test_cross_voice_benchmark_quick_prints_the_table(tmp_path):
    out = run_module("benchmarks.cross_voice", "--quick", tmp_path=tmp_path, timeout=300)
    assert "corpus: demo corpus" in out
    for column in ("real train (ref)", "real valid", "shuffled valid"):
        assert column in out
    for metric in ("harmony_consonance", "kl_harmony_interval", "key_agreement", "onset_coincidence_p1_tr",
                   "onset_coincidence_p1_no", "onset_coincidence_tr_no", "kl_co_onset"):
        assert f"| {metric} " in out, metric
