"""Length-matched excerpts of real songs, all voices together (the cross-voice control).

A generated piece lasts exactly ``beats`` beats and has every voice; a real song is longer
and starts anywhere. To compare them, a song at least ``beats`` long (end of its last
note) gives one excerpt: a start tick drawn uniformly in ``[0, length - beats]`` (seeded),
the notes *starting* inside the window, shifted to 0 and cut at its end. A note sounding
across the start is dropped, as a generated piece has none either. Songs shorter than
``beats`` give none (taking them whole would make the control shorter than the samples).
Moved here from ``benchmarks/cross_voice.py`` so the pipeline and the benchmark cut alike.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

from neshmm.data.corpus import Split
from neshmm.data.voices import VOICES


def song_end(split: Split, i: int) -> int:
    """End tick of file ``i``'s last note over all voices (0 for a song without notes)."""
    return max((int(n[:, 1].max()) for n in (split.voice_notes(v, i) for v in VOICES) if len(n)), default=0)


def song_excerpts(
    split: Split, beats: float, rng: np.random.Generator, file_indices: Iterable[int] | None = None
) -> tuple[list[dict[str, np.ndarray]], list[int], list[int]]:
    """One ``beats``-long excerpt per song at least that long: pieces, their ticks per beat, file indices.

    Draws one start per eligible song, in file order, from ``rng``: the same generator
    state gives the same excerpts. A voice without notes in the window is absent.
    """
    pieces, tpbs, used = [], [], []
    for i in range(len(split.files)) if file_indices is None else file_indices:
        i = int(i)
        tpb = int(split.ticks_per_beat[i])
        end = song_end(split, i)
        width = int(round(beats * tpb))
        if end < width or width <= 0:
            continue
        start = int(rng.integers(0, end - width + 1))
        piece = {}
        for v in VOICES:
            n = split.voice_notes(v, i)
            kept = n[(n[:, 0] >= start) & (n[:, 0] < start + width)].copy()
            kept[:, :2] -= start
            kept[:, 1] = np.minimum(kept[:, 1], width)
            if len(kept):
                piece[v] = kept
        pieces.append(piece)
        tpbs.append(tpb)
        used.append(i)
    return pieces, tpbs, used


def whole_songs(split: Split, file_indices: Iterable[int] | None = None) -> tuple[list[dict[str, np.ndarray]], list[int]]:
    """Every chosen song whole (voices with notes only) and its ticks per beat."""
    pieces, tpbs = [], []
    for i in range(len(split.files)) if file_indices is None else file_indices:
        i = int(i)
        piece = {v: split.voice_notes(v, i) for v in VOICES}
        pieces.append({v: n for v, n in piece.items() if len(n)})
        tpbs.append(int(split.ticks_per_beat[i]))
    return pieces, tpbs


def total_beats(split: Split) -> float:
    """Sum over the songs of their length in beats (end of the last note): the held-out
    time a per-beat likelihood is divided by."""
    return float(sum(song_end(split, i) / int(split.ticks_per_beat[i]) for i in range(len(split.files))))
