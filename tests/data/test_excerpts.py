"""Length-matched excerpts of real songs: exactly `beats` long, all voices, seeded."""

from __future__ import annotations

import numpy as np

from helpers import TPB, notes
from neshmm.data.corpus import FileResult, build_split
from neshmm.data.excerpts import song_end, song_excerpts, total_beats, whole_songs


def split():
    songs = [
        FileResult("long.mid", TPB, {"p1": notes((0, 2, 60), (2, 50, 62)), "tr": notes((1, 40, 40)),
                                     "no": notes(*[(b, b + 0.1, 3) for b in range(48)])}),
        FileResult("short.mid", TPB, {"p1": notes((0, 4, 60))}),
        FileResult("exact.mid", TPB, {"p2": notes((0, 8, 70), (8, 16, 72))}),
    ]
    return build_split(songs)


def test_excerpts_skip_short_songs_and_stay_inside_the_window():
    s = split()
    pieces, tpbs, used = song_excerpts(s, 16.0, np.random.default_rng(3))
    assert used == [0, 2] and tpbs == [TPB, TPB]
    width = 16 * TPB
    for p in pieces:
        for n in p.values():
            assert len(n) and (n[:, 0] >= 0).all() and (n[:, 0] < width).all() and (n[:, 1] <= width).all()
    # A song exactly as long as the window is taken from its start, whole.
    np.testing.assert_array_equal(pieces[1]["p2"], s.voice_notes("p2", 2))
    # Notes sounding across the start are dropped: the long p1 note starts at beat 2.
    a, _, _ = song_excerpts(s, 16.0, np.random.default_rng(3))
    b, _, _ = song_excerpts(s, 16.0, np.random.default_rng(3))
    assert all(np.array_equal(x[v], y[v]) for x, y in zip(a, b) for v in x)
    starts = {int(song_excerpts(s, 16.0, np.random.default_rng(k))[0][0]["no"][0, 0]) for k in range(8)}
    assert len(starts) > 1  # the start really is drawn


def test_song_lengths_and_whole_songs():
    s = split()
    assert song_end(s, 0) == 50 * TPB
    assert total_beats(s) == 50 + 4 + 16
    pieces, tpbs = whole_songs(s, [1])
    assert list(pieces[0]) == ["p1"] and tpbs == [TPB]
