"""A placeholder model file for a voice that had too little data to train.

DVC needs every declared output to exist, and downstream stages need to know *why* a
voice has no model; a small npz with ``skipped`` in its header says both.
"""

import json
from pathlib import Path

import numpy as np

from neshmm import atomic


def save_skipped(path: Path, model_name: str, voice: str, reason: str) -> None:
    header = {"model": model_name, "voice": voice, "skipped": True, "reason": reason}
    data = np.frombuffer(json.dumps(header, sort_keys=True).encode(), dtype=np.uint8)
    atomic.write_npz(path, meta_json=data)
