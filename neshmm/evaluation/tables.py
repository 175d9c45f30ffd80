"""How scores are laid out: DVC metrics JSON, markdown and CSV tables, one per part.

Writes, for each part (kl, loglik, mgeval):
  <metrics>/<part>.json   {voice: {model: {metric: value}}}, the DVC metrics file
  <metrics>/<part>.md     one table per metric (rows voices, columns models)
  <metrics>/<part>.csv    the part's headline metric as a table
  <metrics>/tables/<metric>.csv   every metric as its own table
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

from neshmm import atomic
from neshmm.evaluation.scoring import VoiceScore

# Metrics per part in the order tables are shown; the first is the part's headline (.csv).
# A part's other metrics follow in sorted order.
ORDER = {
    "kl": ["kl_pitch", "kl_pitch_pooled", "kl_duration", "kl_velocity", "kl_pitch_class", "kl_interval", "kl_rest_ratio"],
    "loglik": [
        "heldout_loglik_per_beat",
        "heldout_loglik_per_beat_minus_baseline",
        "heldout_loglik_per_second",
        "heldout_loglik_per_token",
        "heldout_known_loglik_per_known_token",
        "heldout_unknown_rate",
        "p_unk",
        "heldout_perplexity",
        "heldout_unknown_tokens",
        "heldout_tokens",
        "heldout_files",
        "self_loglik_per_token",
    ],
    "mgeval": ["oa_mean"],
}
TITLES = {
    "kl": "KL(reference || generated) per voice, mean over pieces [95% CI over pieces] (0 = same histogram)",
    "loglik": "Held-out likelihood per voice [95% CI, file-level bootstrap] (higher = better)",
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
    import pandas as pd  # imported when used: stages that import this module start faster

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


def markdown_ci(value: pd.DataFrame, low: pd.DataFrame, high: pd.DataFrame, fmt: str = ".4f") -> str:
    """A table whose cells read ``value [low, high]`` (the CI), NaN as ``n/a``."""
    cells = value.copy().astype(object)

    def at(df, idx, col):
        return df.at[idx, col] if col in df.columns and idx in df.index else np.nan

    for col in value.columns:
        for idx in value.index:
            v, lo, hi = value.at[idx, col], at(low, idx, col), at(high, idx, col)
            if not np.isfinite(v):
                cells.at[idx, col] = "n/a"
            elif np.isfinite(lo) and np.isfinite(hi):
                cells.at[idx, col] = f"{v:{fmt}} [{lo:{fmt}}, {hi:{fmt}}]"
            else:
                cells.at[idx, col] = f"{v:{fmt}}"
    return cells.to_markdown(colalign=("left",) + ("right",) * len(cells.columns)) + "\n"


def ordered_keys(scores, part: str) -> list[str]:
    present = {k for by in scores.values() for sc in by.values() for k in getattr(sc, part)}
    present = {k for k in present if not k.endswith(("_ci_low", "_ci_high"))}
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
        low, high = table(scores, part, f"{key}_ci_low"), table(scores, part, f"{key}_ci_high")
        fmt = number_format(df)
        body = markdown_ci(df, low, high, fmt) if not low.empty else markdown(df, fmt)
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


# The headline: per voice and system, a few numbers with their intervals (metrics/summary.json,
# the one DVC metrics file a user reads first; the detail stays in the part tables).
# The pitch KL here is the mean over pieces with its CI over pieces. The pooled KL (the
# notebook's number) stays in metrics/kl.md: its bootstrap interval is not trustworthy (a
# resample repeats pieces, which roughens the pooled histogram, so on NES-MDB the
# interval often lay wholly above the estimate) and its value falls as pieces are added.
HEADLINE = (
    ("loglik", "heldout_loglik_per_beat"),
    ("loglik", "heldout_loglik_per_beat_minus_baseline"),
    ("mgeval", "oa_mean"),
    ("kl", "kl_pitch"),
)


def headline_entry(values: dict, key: str) -> dict:
    """``key``'s value with its interval (``key_low``, ``key_high``) and ``key_significant``
    where ``values`` has them (``key_ci_low`` etc.); nothing when the value is undefined."""
    if values.get(key) is None:
        return {}
    out = {key: values[key]}
    for side in ("low", "high"):
        if values.get(f"{key}_ci_{side}") is not None:
            out[f"{key}_{side}"] = values[f"{key}_ci_{side}"]
    if f"{key}_significant" in values:
        out[f"{key}_significant"] = values[f"{key}_significant"]
    return out


def headline(scores: dict[str, dict[str, VoiceScore]]) -> dict:
    """``{voice: {system: {metric: value, metric_low: ..., metric_high: ...}}}``, the
    paired difference with ``..._significant`` (1 when its CI excludes 0)."""
    out: dict = {}
    for voice, by_system in scores.items():
        out[voice] = {}
        for system, sc in by_system.items():
            if sc.skipped:
                continue
            row: dict = {}
            for part, key in HEADLINE:
                row.update(headline_entry(getattr(sc, part), key))
            if row:
                out[voice][system] = row
    return out


def headline_markdown(summary: dict) -> str:
    """summary.json as one table: rows voice × system, cells ``value [low, high]``."""
    import pandas as pd  # imported when used: stages that import this module start faster

    keys = [k for _, k in HEADLINE]
    rows = []
    for voice, by_system in summary.items():
        if voice == "all_voices":
            continue
        for system, row in by_system.items():
            cells = [voice, system]
            for k in keys:
                if k not in row:
                    cells.append("")
                    continue
                text = f"{row[k]:.4f}"
                if f"{k}_low" in row and f"{k}_high" in row:
                    text += f" [{row[f'{k}_low']:.4f}, {row[f'{k}_high']:.4f}]"
                if row.get(f"{k}_significant") == 0:
                    text += " (not significant)"
                cells.append(text)
            rows.append(cells)
    df = pd.DataFrame(rows, columns=["voice", "system", *keys])
    text = df.to_markdown(index=False) + "\n"
    whole = summary.get("all_voices")
    if whole:
        wkeys = sorted({k for row in whole.values() for k in row if not k.endswith(("_low", "_high"))})
        wrows = []
        for system, row in whole.items():
            cells = [system]
            for k in wkeys:
                v = row.get(k)
                cells.append("" if v is None else f"{v:.4f}" + (f" [{row[k + '_low']:.4f}, {row[k + '_high']:.4f}]" if f"{k}_low" in row else ""))
            wrows.append(cells)
        text += "\nWhole pieces (all four voices):\n\n" + pd.DataFrame(wrows, columns=["system", *wkeys]).to_markdown(index=False) + "\n"
    return text
