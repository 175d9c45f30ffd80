"""Piano rolls draw every note, however short, and stack any number of pieces."""

from __future__ import annotations

import numpy as np
import pytest

from neshmm.audio.pianoroll import COLORS, Roll, RollFigure, stacked_figure
from helpers import TPB, line

BEATS = 128.0


def rendered(fig, dpi: int = 90) -> np.ndarray:
    """The figure as an RGB array exactly as ``save_png`` would rasterise it."""
    import io

    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    buf.seek(0)
    return plt.imread(buf)[:, :, :3]


def marks_in_columns(img: np.ndarray, box, dpi_scale: float) -> int:
    """Separate runs of pixel columns inside ``box`` (an axes' extent) that hold a coloured pixel."""
    h = img.shape[0]
    x0, y0, x1, y1 = (np.array(box.extents) * dpi_scale).round().astype(int)
    sub = img[h - y1 + 2 : h - y0 - 2, x0 + 2 : x1 - 2]
    coloured = (sub.max(axis=2) - sub.min(axis=2)) > 0.08  # grey grid and white are not
    cols = coloured.any(axis=0)
    return int(cols[0]) + int(np.sum(cols[1:] & ~cols[:-1]))


def short_notes_roll() -> Roll:
    # 64 notes of 0.13 beat (~0.4 px at the comparison's scale), one every 2 beats from beat 1 (clear of the axes frame), like
    # NES-MDB's fast pulse arpeggios; gaps of ~5 px keep each note a separate mark.
    return Roll("short", {"p2": line([60 + k % 5 for k in range(64)], start=1.0, step=2.0, length=0.13)}, TPB, BEATS)


def test_every_short_note_is_drawn_in_the_piece_figure():
    fig = RollFigure(width=5.0, height=5.2).draw(short_notes_roll())
    fig.canvas.draw()
    ax = fig.axes[1]  # p2 row
    box = ax.get_window_extent()
    img = rendered(fig, dpi=90)
    assert marks_in_columns(img, box, 90 / fig.dpi) == 64


def test_every_short_note_is_drawn_in_the_stacked_figure():
    fig = stacked_figure([short_notes_roll(), short_notes_roll()])
    fig.canvas.draw()
    boxes = [ax.get_window_extent() for ax in fig.axes[:2]]
    img = rendered(fig, dpi=90)
    assert [marks_in_columns(img, b, 90 / fig.dpi) for b in boxes] == [64, 64]


def test_stacked_figure_has_one_labelled_panel_per_piece_on_one_time_axis():
    piece = {"p1": line([72, 74]), "p2": line([67, 69]), "tr": line([48, 50]), "no": line([5, 9], length=0.2)}
    rolls = [Roll(f"piece {k}", piece, TPB, 8.0 + k) for k in range(3)]
    fig = stacked_figure(rolls)
    assert len(fig.axes) == 3
    assert [ax.get_title(loc="left") for ax in fig.axes] == ["piece 0", "piece 1", "piece 2"]
    assert {ax.get_xlim() for ax in fig.axes} == {(0.0, 10.0)}  # longest piece sets the shared axis
    legend = fig.axes[0].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["p1 pulse 1", "p2 pulse 2", "tr triangle", "no noise"]
    # every voice of every piece is one collection in its colour
    from matplotlib.colors import to_rgb

    for ax in fig.axes:
        colours = {tuple(np.round(c.get_facecolors()[0][:3], 3)) for c in ax.collections}
        assert colours == {tuple(np.round(to_rgb(COLORS[v]), 3)) for v in ("p1", "p2", "tr", "no")}


def test_stacked_figure_of_nothing_is_refused():
    with pytest.raises(ValueError, match="at least one"):
        stacked_figure([])


def png_bytes(fig) -> bytes:
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, metadata={"Software": None})
    return buf.getvalue()


def test_a_reused_piece_figure_shows_only_the_piece_it_was_last_given():
    """RollFigure draws every piece of a process into one figure: what was drawn before
    (other notes, a silent voice's empty ticks and label, another title) must not show."""
    full = Roll("full", {"p1": line([72, 74, 79]), "p2": line([60, 67]), "tr": line([40, 52]), "no": line([3, 15])}, TPB, 6.0)
    sparse = Roll("sparse · $x^$", {"p2": line([90, 91], length=0.25)}, TPB, 9.0)
    for before, after in ((full, sparse), (sparse, full)):
        fresh = png_bytes(RollFigure().draw(after))
        reused = RollFigure()
        reused.draw(before)
        png_bytes(reused.fig)
        assert png_bytes(reused.draw(after)) == fresh
    fig = RollFigure().draw(sparse)
    assert fig.axes[0].get_title() == "sparse · $x^$"
    assert [ax.get_ylabel() for ax in fig.axes] == ["p1\npulse 1", "p2\npulse 2", "tr\ntriangle", "no\nnoise"]
    assert [[t.get_text() for t in ax.texts] for ax in fig.axes] == [["silent"], [], ["silent"], ["silent"]]
    assert [len(ax.collections) for ax in fig.axes] == [0, 1, 0, 0]
    assert {ax.get_xlim() for ax in fig.axes} == {(0.0, 9.0)} and fig.axes[-1].get_xlabel() == "beats"
