"""How scores are laid out: DVC metrics JSON, markdown and CSV tables, one per part.

Writes, for each part (kl, loglik, mgeval):
  <metrics>/<part>.json   {voice: {model: {metric: value}}}, the DVC metrics file
  <metrics>/<part>.md     one table per metric (rows voices, columns models)
  <metrics>/<part>.csv    the part's headline metric as a table
  <metrics>/tables/<metric>.csv   every metric as its own table
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from neshmm import atomic
from neshmm.evaluation.scoring import VoiceScore

# Metrics per part in the order tables are shown; the first is the part's headline (.csv).
# A part's other metrics follow in sorted order.
ORDER = {
    "kl": ["kl_pitch", "kl_pitch_pooled", "kl_duration", "kl_velocity", "kl_pitch_class", "kl_interval", "kl_rest_ratio"],
    "loglik": [
        "heldout_loglik_per_token",
        "heldout_perplexity",
        "heldout_unknown_tokens",
        "heldout_unknown_fraction",
        "heldout_tokens",
        "self_loglik_per_token",
    ],
    "mgeval": ["oa_mean"],
}
TITLES = {
    "kl": "KL(reference || generated) per voice, mean ± std over samples (0 = same histogram)",
    "loglik": "Held-out likelihood per voice (higher log-likelihood, lower perplexity = better)",
    "mgeval": "MGEval per voice: overlap area (oa_*, 1 = indistinguishable) and KL(intra || inter) (0 = same)",
}



def column_name(roles: dict, role: str) -> str:
    """The model's name (hmm, markov), or name_role when model and baseline share a type."""
    name = roles[role]["model"]
    same = [r for r, info in roles.items() if info["model"] == name]
    return name if len(same) == 1 else f"{name}_{role}"


def control_name(heldout: str) -> str:
    return f"real_{heldout}"


def nested(scores: dict[str, dict[str, VoiceScore]], part: str) -> dict:
    """{voice: {model: {metric: value}}}: `dvc metrics diff` prints one row per leaf,
    named ``voice.model.metric`` (e.g. ``p1.hmm.kl_pitch``)."""
    out: dict = {}
    for voice, by_model in scores.items():
        out[voice] = {}
        for model, s in by_model.items():
            values = dict(getattr(s, part))
            if s.skipped:
                values = {"skipped": 1}
            if values:
                out[voice][model] = values
    return out


def table(scores: dict[str, dict[str, VoiceScore]], part: str, metric: str) -> pd.DataFrame:
    """Rows voices, columns models, cells one metric (NaN where undefined or skipped).

    Columns in which every cell is NaN (e.g. the real-vs-real control in likelihood tables,
    where there is no model to score) are dropped rather than shown as a column of nan.
    """
    rows = {}
    for voice, by_model in scores.items():
        rows[voice] = {
            m: (np.nan if s.skipped else getattr(s, part).get(metric, np.nan)) for m, s in by_model.items()
        }
    df = pd.DataFrame.from_dict(rows, orient="index").astype(float)
    df.index.name = "voice"
    return df.loc[:, df.notna().any(axis=0)] if len(df.columns) else df


def markdown(df: pd.DataFrame, floatfmt: str = ".4f") -> str:
    return df.to_markdown(floatfmt=floatfmt) + "\n"


def markdown_mean_std(mean: pd.DataFrame, std: pd.DataFrame, fmt: str = ".4f") -> str:
    """A table whose cells read ``mean ± std`` (the spread over samples), NaN as ``n/a``."""
    cells = mean.copy().astype(object)
    for col in mean.columns:
        for idx in mean.index:
            m = mean.at[idx, col]
            s = std.at[idx, col] if col in std.columns and idx in std.index else np.nan
            if not np.isfinite(m):
                cells.at[idx, col] = "n/a"
            elif np.isfinite(s):
                cells.at[idx, col] = f"{m:{fmt}} ± {s:{fmt}}"
            else:
                cells.at[idx, col] = f"{m:{fmt}}"
    return cells.to_markdown(colalign=("left",) + ("right",) * len(cells.columns)) + "\n"


def ordered_keys(scores, part: str) -> list[str]:
    present = {k for by in scores.values() for sc in by.values() for k in getattr(sc, part)}
    present = {k for k in present if not k.endswith("_std")}
    head = [k for k in ORDER[part] if k in present]
    return head + sorted(present - set(head))


def number_format(df) -> str:
    """Counts print as integers, everything else with four decimals."""
    values = df.to_numpy(dtype=float)
    values = values[np.isfinite(values)]
    return ".0f" if values.size and np.all(values == np.round(values)) else ".4f"


def write_tables(scores, part: str, out: Path) -> dict[str, str]:
    """The part's json, md and headline csv; returns {metric: csv text} for tables/."""
    atomic.write_json(out / f"{part}.json", nested(scores, part))
    sections, csvs = [f"## {TITLES[part]}\n"], {}
    for key in ordered_keys(scores, part):
        df = table(scores, part, key)
        if df.empty or df.isna().all().all():
            continue
        csvs[key] = df.to_csv(float_format="%.6g", lineterminator="\n")
        std = table(scores, part, f"{key}_std")
        fmt = number_format(df)
        body = markdown_mean_std(df, std, fmt) if not std.empty else markdown(df, fmt)
        sections.append(f"### {key}\n\n{body}")
    if csvs:
        atomic.write_text(out / f"{part}.csv", next(iter(csvs.values())))
    atomic.write_text(out / f"{part}.md", "\n".join(sections))
    return csvs


def write_tables_dir(csvs: dict[str, str], out: Path) -> None:
    """metrics/tables/ rebuilt from scratch, so a metric that disappears leaves no stale file."""
    with atomic.atomic_dir(out) as tmp:
        for key, text in csvs.items():
            (tmp / f"{key}.csv").write_text(text, encoding="utf-8")
