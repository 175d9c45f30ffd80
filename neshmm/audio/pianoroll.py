"""Piano-roll pictures: the four NES voices stacked, time in beats, one colour per voice.

Two layouts: :class:`RollFigure` draws one piece with one row per voice, as the per-piece
PNGs use; :func:`stacked_figure` stacks any number of pieces one under the
other on one shared time axis, each piece in one panel with its four voices overlaid in
their colours, so whether voices fit together (attacks aligned, registers interleaved) is
visible. Notes are drawn as one polygon collection per voice (thousands of notes cost one
artist, not thousands), with opacity following the 4-bit volume. PNGs are written without
the matplotlib version stamp, so equal pieces give byte-equal files across runs.

Short notes: at the comparison's scale (128 beats in a few hundred pixels) a NES-MDB
arpeggio note of 1/8 beat is under one pixel wide. Agg snaps rectilinear paths to pixel
boundaries, which collapsed most of them to zero width, so fast p2 figures showed as a
few clusters; :class:`NoteBoxes` turns snapping off and widens every box to at least
one pixel when it is drawn (at whatever dpi the figure is saved with).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

import numpy as np

from neshmm.atomic import atomic_path
from neshmm.data.voices import VOICES

COLORS = {"p1": "#d62728", "p2": "#ff7f0e", "tr": "#1f77b4", "no": "#2ca02c"}
LABELS = {"p1": "pulse 1", "p2": "pulse 2", "tr": "triangle", "no": "noise"}


@dataclass
class Roll:
    """One piece to draw: notes per voice in ticks, and how to caption it."""

    title: str
    notes: dict[str, np.ndarray]
    ticks_per_beat: int
    beats: float


MIN_NOTE_PIXELS = 1.0


def _boxes(start: np.ndarray, end: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    return np.stack(
        [np.stack([start, low], 1), np.stack([end, low], 1), np.stack([end, high], 1), np.stack([start, high], 1)],
        axis=1,
    )


def _note_boxes(notes: np.ndarray, ticks_per_beat: int) -> np.ndarray:
    return _boxes(notes[:, 0] / ticks_per_beat, notes[:, 1] / ticks_per_beat, notes[:, 2] - 0.4, notes[:, 2] + 0.4)


@functools.lru_cache(maxsize=1)  # made once: defining a matplotlib artist class costs ~3 ms
def _note_boxes_class():
    from matplotlib.collections import PolyCollection

    class NoteBoxes(PolyCollection):
        """Note rectangles in beats that are never drawn narrower than ``MIN_NOTE_PIXELS``.

        The widening happens in :meth:`draw`, where the axes' final size and the saving
        dpi are known; the boxes keep their start, so onsets stay exact.
        """

        def __init__(self, start, end, low, high, **kwargs):
            self._extent = tuple(np.asarray(a, dtype=np.float64) for a in (start, end, low, high))
            super().__init__(_boxes(*self._extent), snap=False, **kwargs)

        def draw(self, renderer):
            start, end, low, high = self._extent
            x0, x1 = self.axes.transData.transform([[0.0, 0.0], [1.0, 0.0]])[:, 0]
            per_beat = abs(x1 - x0)
            if per_beat > 0:
                width = MIN_NOTE_PIXELS / per_beat
                self.set_verts(_boxes(start, np.maximum(end, start + width), low, high))
            super().draw(renderer)

    return NoteBoxes


def note_collection(notes: np.ndarray, ticks_per_beat: int, rgba: np.ndarray, low=None, high=None):
    """One collection of note boxes (pitch +-0.4 unless ``low``/``high`` are given)."""
    low = notes[:, 2] - 0.4 if low is None else low
    high = notes[:, 2] + 0.4 if high is None else high
    return _note_boxes_class()(
        notes[:, 0] / ticks_per_beat, notes[:, 1] / ticks_per_beat, low, high, facecolors=rgba, edgecolors="none"
    )


def _colours(voice: str, notes: np.ndarray) -> np.ndarray:
    """The voice's colour per note, opacity following the 4-bit volume (the triangle has none)."""
    from matplotlib.colors import to_rgba

    rgba = np.tile(np.array(to_rgba(COLORS[voice])), (len(notes), 1))
    volume = 1.0 if voice == "tr" else np.clip(notes[:, 3], 0, 15) / 15.0
    rgba[:, 3] = 0.3 + 0.7 * volume
    return rgba


def _draw_voice(ax, voice: str, notes: np.ndarray, ticks_per_beat: int, beats: float) -> None:
    notes = np.asarray(notes, dtype=np.int64).reshape(-1, 4)
    ax.set_xlim(0, beats)
    ax.grid(axis="x", color="#dddddd", linewidth=0.5)
    ax.set_axisbelow(True)
    if voice == "no":
        ax.set_ylim(0.5, 16.5)  # NES-MDB noise "pitch" = 16 - period index: 1 dark .. 16 bright
    elif len(notes):
        ax.set_ylim(notes[:, 2].min() - 2, notes[:, 2].max() + 2)
    if len(notes) == 0:
        ax.text(0.5, 0.5, "silent", transform=ax.transAxes, ha="center", va="center", color="#888888")
        if voice != "no":
            ax.set_ylim(0, 1)
            ax.set_yticks([])
        return
    ax.add_collection(note_collection(notes, ticks_per_beat, _colours(voice, notes)))


class RollFigure:
    """One piece's figure, one row per voice, drawn again for every piece a process renders.

    Why: building a matplotlib figure (axes, their ticks) and laying it out with
    ``tight_layout`` (which draws the figure once more to measure every label) was two
    thirds of a piece's ~0.2 s picture, the same work for every piece of a render. Here the
    axes are made once with fixed margins (in inches, room for the labels these rolls
    have), and :meth:`draw` removes the previous piece's notes and texts and sets every
    limit, tick locator and title anew, so the picture depends on the roll alone, never on
    which pieces the process drew before (``tests/pipeline/test_render.py`` renders with one
    and with two workers and compares the bytes).
    """

    MARGINS = {"left": 0.7, "right": 0.08, "top": 0.33, "bottom": 0.5, "gap": 0.14}  # inches

    def __init__(self, voices=VOICES, width: float = 7.0, height: float = 5.2, dpi: int = 90):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        self.voices = tuple(voices)
        self.fig = Figure(figsize=(width, height), dpi=dpi)
        FigureCanvasAgg(self.fig)
        self.axes = list(self.fig.subplots(len(self.voices), 1, sharex=True, squeeze=False)[:, 0])
        m = self.MARGINS
        panel = (height - m["top"] - m["bottom"] - m["gap"] * (len(self.voices) - 1)) / len(self.voices)
        self.fig.subplots_adjust(left=m["left"] / width, right=1 - m["right"] / width, top=1 - m["top"] / height,
                                 bottom=m["bottom"] / height, hspace=m["gap"] / panel)
        # Axis labels at fixed places (matplotlib would otherwise measure every tick label
        # of every panel at each draw to place them): voice labels ending 0.4 in from the
        # left edge, clear of 3-digit pitch labels, and "beats" 0.24 in under the time axis.
        axes_width = width * (1 - (m["left"] + m["right"]) / width)
        for ax, voice in zip(self.axes, self.voices):
            ax.tick_params(labelsize=7)
            ax.set_ylabel(f"{voice}\n{LABELS[voice]}", fontsize=8, color=COLORS[voice])
            ax.yaxis.set_label_coords((0.4 - m["left"]) / axes_width, 0.5)
        self.axes[-1].set_xlabel("beats", fontsize=8)
        self.axes[-1].xaxis.set_label_coords(0.5, -0.24 / panel)

    def draw(self, roll: Roll):
        """The figure showing ``roll`` (and nothing of the pieces drawn before)."""
        from matplotlib.ticker import AutoLocator

        for ax, voice in zip(self.axes, self.voices):
            for artist in [*ax.collections, *ax.texts]:
                artist.remove()
            ax.yaxis.set_major_locator(AutoLocator())  # a silent voice's empty ticks must not stay
            _draw_voice(ax, voice, roll.notes.get(voice, np.zeros((0, 4), np.int64)), roll.ticks_per_beat, roll.beats)
        # Titles hold file names: "$x^$" must be printed, not parsed as mathtext (which
        # raised and lost the whole render), hence parse_math=False and no TeX.
        self.axes[0].set_title(roll.title, fontsize=9, parse_math=False, usetex=False)
        return self.fig


def roll_png(roll: Roll, path: str | os.PathLike) -> None:
    """Write one piece's piano roll, drawn in this process's :class:`RollFigure`."""
    save_png(_roll_figure().draw(roll), path, close=False)


@functools.lru_cache(maxsize=1)
def _roll_figure() -> RollFigure:
    return RollFigure()


NOISE_LANE = 6.0  # height of the noise lane under the pitched voices, in semitones


def stacked_figure(rolls: list[Roll], width: float = 14.0, panel_height: float = 2.2):
    """One panel per roll, stacked on one shared time axis; the four voices overlaid in each.

    p1, p2 and tr are drawn at their MIDI pitch; the noise voice, whose "pitch" is a period
    index (1 dark .. 16 bright), gets a lane of its own under the lowest pitched note,
    brighter noise drawn higher. Each panel is titled with its roll's title; the legend
    names the voices once. The time axis runs to the longest roll.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    if not rolls:
        raise ValueError("stacked_figure() needs at least one roll")
    beats = max(r.beats for r in rolls)
    fig, axes = plt.subplots(
        len(rolls), 1, figsize=(width, panel_height * len(rolls) + 0.6), sharex=True, squeeze=False
    )
    for ax, roll in zip(axes[:, 0], rolls):
        pitched = [np.asarray(roll.notes.get(v, np.zeros((0, 4))), dtype=np.int64).reshape(-1, 4) for v in VOICES[:3]]
        pitches = np.concatenate([p[:, 2] for p in pitched])
        lo, hi = (int(pitches.min()), int(pitches.max())) if len(pitches) else (60, 72)
        lane_top = lo - 1.5
        lane_bottom = lane_top - NOISE_LANE
        for voice, notes in zip(VOICES[:3], pitched):
            if len(notes):
                ax.add_collection(note_collection(notes, roll.ticks_per_beat, _colours(voice, notes)))
        noise = np.asarray(roll.notes.get("no", np.zeros((0, 4))), dtype=np.int64).reshape(-1, 4)
        if len(noise):
            step = NOISE_LANE / 16.0
            low = lane_bottom + (np.clip(noise[:, 2], 1, 16) - 1) * step
            ax.add_collection(note_collection(noise, roll.ticks_per_beat, _colours("no", noise), low, low + step))
        ax.axhspan(lane_bottom, lane_top, color="#f4f4f4", zorder=0)
        ax.set_xlim(0, beats)
        ax.set_ylim(lane_bottom - 0.5, hi + 1.5)
        octaves = [p for p in range(0, 128, 12) if lo - 1 <= p <= hi + 1]
        ax.set_yticks([(lane_bottom + lane_top) / 2, *octaves], ["noise", *(f"C{p // 12 - 1}" for p in octaves)])
        ax.grid(axis="x", color="#dddddd", linewidth=0.5)
        ax.set_axisbelow(True)
        ax.tick_params(labelsize=7)
        ax.set_title(roll.title, fontsize=9, loc="left", parse_math=False, usetex=False)  # titles hold file names
    handles = [Patch(color=COLORS[v], label=f"{v} {LABELS[v]}") for v in VOICES]
    axes[0, 0].legend(handles=handles, loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=4, fontsize=7, frameon=False)
    axes[-1, 0].set_xlabel("beats", fontsize=8)
    fig.tight_layout(h_pad=0.4)
    return fig


def save_png(fig, path: str | os.PathLike, dpi: int = 90, close: bool = True) -> None:
    """Write the figure atomically, without metadata that varies by matplotlib version.

    ``close=False`` keeps a figure that is drawn again (:class:`RollFigure`).
    """
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, metadata={"Software": None})
    if close:
        import matplotlib.pyplot as plt

        plt.close(fig)
