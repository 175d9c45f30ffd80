"""Compiled kernels are cached by content: a copy of the project elsewhere does not compile them again.

Guards neshmm/models/numba_cache.py, the adapter over numba's caching internals.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import ROOT, tool_env

PROBE = """
import json, numpy as np
from neshmm.models import estep
ids = np.array([1, 2, 0, 1, 2, 2], dtype=np.int64)
r = estep.categorical_estep(ids, np.array([2, 4]), np.full(3, 1 / 3), np.full((3, 3), 1 / 3), np.full((3, 3), 1 / 3), n_threads=1)
stats = estep._estep_kernel.stats
print(json.dumps({"file": estep.__file__, "hits": sum(stats.cache_hits.values()), "misses": sum(stats.cache_misses.values()),
                  "ll": r.log_likelihood}))
"""


# The synthesizer's loops (neshmm/audio/apu_kernel.py) are compiled at import (explicit signatures).
AUDIO_PROBE = """
import json
from neshmm.audio import apu_kernel, synth
stats = [f.stats for f in (apu_kernel.synthesize, apu_kernel.voice_levels, apu_kernel.mix_and_filter)]
audio = synth.synthesize({"p1": [[0, 480, 69, 12]], "tr": [[0, 960, 45, 1]]}, 480, 22050, 44100)
print(json.dumps({"file": apu_kernel.__file__, "hits": sum(sum(s.cache_hits.values()) for s in stats),
                  "misses": sum(sum(s.cache_misses.values()) for s in stats), "ll": float(abs(audio).sum())}))
"""


def probe(where: Path, code: str = PROBE) -> dict:
    out = subprocess.run([sys.executable, "-c", code], cwd=where, env=tool_env(), capture_output=True, text=True,
                         check=True, timeout=600).stdout
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.parametrize("code, n_kernels", [(PROBE, 1), (AUDIO_PROBE, 3)], ids=["estep", "apu_kernel"])
def test_a_copy_of_the_project_at_another_path_loads_the_kernel_without_compiling(tmp_path, code, n_kernels):
    # The shared cache (NUMBA_CACHE_DIR or ~/.cache/neshmm/numba), as every stage uses it:
    # the first copy compiles only if no copy of this code ever ran on the machine.
    copies = []
    for name in ("a", "b"):
        shutil.copytree(ROOT / "neshmm", tmp_path / name / "neshmm", ignore=shutil.ignore_patterns("__pycache__"))
        copies.append(tmp_path / name)
    first, second = probe(copies[0], code), probe(copies[1], code)
    assert first["file"].startswith(str(copies[0])) and second["file"].startswith(str(copies[1]))
    assert first["hits"] + first["misses"] == n_kernels
    assert second["hits"] == n_kernels and second["misses"] == 0  # the other path loads what the first left
    assert second["ll"] == first["ll"]
