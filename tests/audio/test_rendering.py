"""comparison(): one stacked panel per group, the real piece first; WAV files as scipy writes them."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from neshmm.audio import rendering
from neshmm.audio.rendering import Piece, comparison, write_wav
from helpers import TPB, line


def piece(key: str, kind: str, role: str | None, beats: float) -> Piece:
    info = {"role": role} if role else {}
    return Piece(key, kind, key, {"p1": line([60, 62]), "tr": line([48, 50])}, TPB, beats, info)


def test_comparison_stacks_the_first_piece_of_every_group_real_first(tmp_path, monkeypatch):
    drawn = []
    real_stacked = rendering.stacked_figure
    monkeypatch.setattr(rendering, "stacked_figure", lambda rolls: drawn.append(rolls) or real_stacked(rolls))
    pieces = [
        piece("model/0", "generated", "model", 8.0),
        piece("model/1", "generated", "model", 8.0),
        piece("joint/0", "generated", "joint", 8.0),
        piece("reference/000", "reference", None, 6.0),
        piece("reference/001", "reference", None, 6.0),
    ]
    assert comparison(pieces, tmp_path / "compare.png") == "compare.png"
    assert [r.title for r in drawn[0]] == ["reference/000", "model/0", "joint/0"]
    assert {r.beats for r in drawn[0]} == {8.0}
    assert (tmp_path / "compare.png").stat().st_size > 5000
    assert comparison([], Path(tmp_path / "none.png")) is None


def test_wav_files_are_byte_identical_to_scipys(tmp_path):
    from scipy.io import wavfile

    pcm = np.random.default_rng(0).integers(-32768, 32768, 10001).astype(np.int16)
    pcm[:2] = (-32768, 32767)
    write_wav(tmp_path / "ours.wav", 44100, pcm)
    wavfile.write(tmp_path / "scipy.wav", 44100, pcm)
    assert (tmp_path / "ours.wav").read_bytes() == (tmp_path / "scipy.wav").read_bytes()
    rate, back = wavfile.read(tmp_path / "ours.wav")
    assert rate == 44100 and np.array_equal(back, pcm)
