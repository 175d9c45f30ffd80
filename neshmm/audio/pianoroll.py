"""Piano-roll pictures: the four NES voices stacked, time in beats, one colour per voice.

Pieces are drawn side by side in columns sharing the time axis, so a generated piece can
be put next to a real one at the same scale. Notes are drawn as one polygon collection per
voice (thousands of notes cost one artist, not thousands), with opacity following the
4-bit volume. PNGs are written without the matplotlib version stamp, so equal pieces give
byte-equal files across runs.
"""

from __future__ import annotations

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


def _note_boxes(notes: np.ndarray, ticks_per_beat: int) -> np.ndarray:
    start = notes[:, 0] / ticks_per_beat
    end = notes[:, 1] / ticks_per_beat
    low = notes[:, 2] - 0.4
    high = notes[:, 2] + 0.4
    return np.stack(
        [np.stack([start, low], 1), np.stack([end, low], 1), np.stack([end, high], 1), np.stack([start, high], 1)],
        axis=1,
    )


def _draw_voice(ax, voice: str, notes: np.ndarray, ticks_per_beat: int, beats: float) -> None:
    from matplotlib.collections import PolyCollection
    from matplotlib.colors import to_rgba

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
    rgba = np.tile(np.array(to_rgba(COLORS[voice])), (len(notes), 1))
    volume = 1.0 if voice == "tr" else np.clip(notes[:, 3], 0, 15) / 15.0
    rgba[:, 3] = 0.3 + 0.7 * volume
    ax.add_collection(PolyCollection(_note_boxes(notes, ticks_per_beat), facecolors=rgba, edgecolors="none"))


def figure(rolls: list[Roll], voices=VOICES, column_width: float = 7.0, height: float = 5.2):
    """A figure with one column per roll and one row per voice."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        len(voices), len(rolls), figsize=(column_width * len(rolls), height), sharex="col", squeeze=False
    )
    for col, roll in enumerate(rolls):
        for row, voice in enumerate(voices):
            ax = axes[row, col]
            _draw_voice(ax, voice, roll.notes.get(voice, np.zeros((0, 4), np.int64)), roll.ticks_per_beat, roll.beats)
            ax.tick_params(labelsize=7)
            if col == 0:
                ax.set_ylabel(f"{voice}\n{LABELS[voice]}", fontsize=8, color=COLORS[voice])
        # Titles hold file names: "$x^$" must be printed, not parsed as mathtext (which
        # raised and lost the whole render), hence parse_math=False and no TeX.
        axes[0, col].set_title(roll.title, fontsize=9, parse_math=False, usetex=False)
        axes[-1, col].set_xlabel("beats", fontsize=8)
    fig.tight_layout(h_pad=0.3)
    return fig


def save_png(fig, path: str | os.PathLike, dpi: int = 90) -> None:
    """Write the figure atomically, without metadata that varies by matplotlib version."""
    import matplotlib.pyplot as plt

    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, metadata={"Software": None})
    plt.close(fig)
