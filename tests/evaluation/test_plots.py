"""Pitch-histogram plot data and PNG, checked by hand on tiny histograms."""

from __future__ import annotations

import struct

import numpy as np

from neshmm.evaluation.plots import PITCH_HIST_COLUMNS, pitch_hist_csv, pitch_hist_png, pitch_hist_table

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def counts(**by_pitch) -> np.ndarray:
    h = np.zeros(128, dtype=np.int64)
    for pitch, n in by_pitch.items():
        h[int(pitch.lstrip("p"))] = n
    return h


def hists():
    return {
        "p1": {"train": counts(p60=2, p62=2), "hmm": counts(p61=3), "markov": counts()},
        "no": {"train": counts(), "hmm": counts()},  # no note anywhere: no rows
        "tr": {"train": counts(p40=1), "hmm": counts(p40=1)},
    }


def test_pitch_hist_table_by_hand():
    df = pitch_hist_table(hists())
    assert list(df.columns) == PITCH_HIST_COLUMNS
    rows = [tuple(r) for r in df.itertuples(index=False)]
    assert rows == [
        # p1 spans the pitches any source uses (60..62), zeros included; markov has no note.
        ("p1", 60, "train", 0.5), ("p1", 61, "train", 0.0), ("p1", 62, "train", 0.5),
        ("p1", 60, "hmm", 0.0), ("p1", 61, "hmm", 1.0), ("p1", 62, "hmm", 0.0),
        ("p1", 60, "markov", 0.0), ("p1", 61, "markov", 0.0), ("p1", 62, "markov", 0.0),
        ("tr", 40, "train", 1.0),
        ("tr", 40, "hmm", 1.0),
    ]


def test_probabilities_sum_to_one_per_voice_and_source_with_notes():
    df = pitch_hist_table(hists())
    sums = df.groupby(["voice", "source"], sort=False)["probability"].sum().to_dict()
    assert sums == {("p1", "train"): 1.0, ("p1", "hmm"): 1.0, ("p1", "markov"): 0.0,
                    ("tr", "train"): 1.0, ("tr", "hmm"): 1.0}


def test_pitch_hist_csv_text():
    text = pitch_hist_csv(pitch_hist_table({"tr": {"train": counts(p40=1, p41=2), "hmm": counts(p41=1)}}))
    assert text == (
        "voice,pitch,source,probability\n"
        "tr,40,train,0.333333\n"
        "tr,41,train,0.666667\n"
        "tr,40,hmm,0\n"
        "tr,41,hmm,1\n"
    )


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_png_is_a_png_one_panel_per_voice_and_deterministic():
    df = pitch_hist_table(hists())
    a, b = pitch_hist_png(df, "title"), pitch_hist_png(df, "title")
    assert a == b
    width, height = png_size(a)
    assert (width, height) == (900, 480)  # 9 x 2.4 inches per voice at 100 dpi, 2 voices
    assert b"matplotlib" not in a.lower()  # no version stamp that would change the bytes


def test_png_of_empty_table_still_renders():
    df = pitch_hist_table({"p1": {"train": counts()}})
    assert df.empty
    assert png_size(pitch_hist_png(df)) == (900, 240)
