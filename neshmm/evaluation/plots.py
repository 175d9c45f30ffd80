"""Pitch histograms as DVC plot data (long CSV) and as a PNG a person can open anywhere.

The CSV feeds ``dvc plots show`` / ``dvc plots diff`` (an interactive Vega-Lite page);
the PNG is the same picture without a browser. Both are written from the same table so
they can never disagree.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Mapping

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

PITCH_HIST_COLUMNS = ["voice", "pitch", "source", "probability"]


def pitch_hist_table(hists: Mapping[str, Mapping[str, np.ndarray]]) -> pd.DataFrame:
    """Long table ``voice, pitch, source, probability`` from counts per voice and source.

    Probabilities are plain normalized counts (no epsilon: smoothing is a device of the KL,
    not part of the picture); a source with no note gets all zeros. Each voice keeps only
    its used pitch range (first to last pitch any source plays), so the noise voice's
    periods 0..15 and the pulses' melodies each fill their own panel. Rows are ordered by
    voice as given, then source as given, then pitch, so the CSV is byte-stable.
    """
    import pandas as pd  # imported when used: stages that import this module start faster

    rows = []
    for voice, by_source in hists.items():
        counts = {s: np.asarray(c, dtype=np.float64) for s, c in by_source.items()}
        used = np.flatnonzero(sum(counts.values()) > 0) if counts else np.array([], dtype=int)
        if used.size == 0:
            continue
        pitches = np.arange(used[0], used[-1] + 1)
        for source, c in counts.items():
            total = c.sum()
            prob = c[pitches] / total if total > 0 else np.zeros(len(pitches))
            rows.extend((voice, int(p), source, float(v)) for p, v in zip(pitches, prob))
    return pd.DataFrame(rows, columns=PITCH_HIST_COLUMNS)


def pitch_hist_csv(df: pd.DataFrame) -> str:
    return df.to_csv(index=False, float_format="%.6g", lineterminator="\n")


def pitch_hist_png(df: pd.DataFrame, title: str = "") -> bytes:
    """One panel per voice, one step line per source; PNG bytes, identical for equal input.

    Uses the object-oriented Figure API with the Agg canvas (no pyplot, no display, no
    global state) and strips the PNG's "Software" stamp so a matplotlib upgrade alone does
    not change the file.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    voices = list(dict.fromkeys(df["voice"]))
    n = max(len(voices), 1)
    fig = Figure(figsize=(9, 2.4 * n), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(n, 1, squeeze=False)[:, 0]
    styles = ["-", "--", ":", "-."]
    for ax, voice in zip(axes, voices):
        sub = df[df["voice"] == voice]
        for i, source in enumerate(dict.fromkeys(sub["source"])):
            s = sub[sub["source"] == source]
            ax.step(s["pitch"], s["probability"], where="mid", label=str(source).replace("$", r"\$"), linestyle=styles[i % len(styles)],
                    linewidth=1.6 if i == 0 else 1.2)
        ax.set_title(f"{voice}", loc="left", fontsize=10)
        ax.set_ylabel("probability")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="upper right")
    axes[-1].set_xlabel("MIDI pitch (noise voice: noise period)")
    if not voices:
        axes[0].text(0.5, 0.5, "no notes", ha="center", va="center", transform=axes[0].transAxes)
    if title:
        fig.suptitle(title, fontsize=11, parse_math=False, usetex=False)  # a "$" in a name is text
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()
