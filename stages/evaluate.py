"""Stage `evaluate`: KL tables, held-out likelihood and MGEval scores per voice and model.

Writes, for each part (kl, loglik, mgeval):
  metrics/<part>.json   {voice: {model: {metric: value}}}, the DVC metrics file
  metrics/<part>.md     one table per metric (rows voices, columns models)
  metrics/<part>.csv    the part's headline metric as a table
  metrics/tables/<metric>.csv   every metric as its own table
and the pitch histograms per voice as plots/pitch_hist.csv (for `dvc plots`) and .png.
"""

import json
from pathlib import Path

import numpy as np

from neshmm import atomic

from neshmm.evaluation import metrics
from neshmm.config import Config
from neshmm.evaluation.scoring import (
    VoiceScore,
    control_excerpts,
    markdown,
    markdown_mean_std,
    nested,
    piece_tokens,
    score_generated,
    score_likelihood,
    table,
)
from neshmm.models import load_model
from neshmm.models.base import read_model_file
from neshmm.evaluation.plots import pitch_hist_csv, pitch_hist_png, pitch_hist_table
from neshmm.data.token_store import load_voice
from neshmm.data.tokens import quantizer_from_config
from stages._common import run
from stages.train import ROLES

TOKENS, MODELS, SAMPLES, OUT, PLOTS = Path("data/tokens"), Path("models"), Path("samples"), Path("metrics"), Path("plots")
TABLES_DIR = OUT / "tables"

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


def score_all(cfg: Config):
    """Scores per voice and model, and the pitch-count histograms per voice and source."""
    q = quantizer_from_config(cfg.tokenize)
    ev, s = cfg.evaluate, cfg.sample
    bins = list(q.duration_bins)
    index = json.loads((SAMPLES / "index.json").read_text())
    roles = {role: index["roles"][role] for role in ROLES}
    pieces = {role: [piece_tokens(SAMPLES / f["file"], q) for f in info["files"]] for role, info in roles.items()}
    control = control_name(ev.heldout)
    scores: dict[str, dict[str, VoiceScore]] = {}
    hists: dict[str, dict[str, np.ndarray]] = {}
    for voice in cfg.voices:
        tokens = load_voice(TOKENS, voice)
        ref = tokens.sequences(ev.reference).as_list()
        held = tokens.sequences(ev.heldout)
        scores[voice] = {}
        hists[voice] = {ev.reference: metrics.pitch_histogram(ref)}
        for role, info in roles.items():
            name = column_name(roles, role)
            meta, _ = read_model_file(MODELS / role / f"{voice}.npz")
            if meta.get("skipped"):
                scores[voice][name] = VoiceScore(skipped=meta["reason"])
                continue
            gen = [p.get(voice, np.zeros((0, 3), dtype=np.int64)) for p in pieces[role]]
            score = score_generated(ref, gen, bins, ev.epsilon, s.seed)
            model = load_model(MODELS / role / f"{voice}.npz")
            score.loglik = score_likelihood(model, tokens.vocab, held.tokens, held.lengths, gen, ev.unk_smoothing)
            scores[voice][name] = score
            hists[voice][name] = metrics.pitch_histogram(gen)
        excerpts = control_excerpts(held.as_list(), q, s.n_samples, s.beats, s.seed, voice)
        if excerpts:
            scores[voice][control] = score_generated(ref, excerpts, bins, ev.epsilon, s.seed)
            hists[voice][control] = metrics.pitch_histogram(excerpts)
        else:
            scores[voice][control] = VoiceScore(skipped=f"no {ev.heldout} songs with voice {voice}")
    for by_model in scores.values():
        for score in by_model.values():
            oas = [v for k, v in score.mgeval.items() if k.startswith("oa_") and v is not None]
            if oas:
                score.mgeval["oa_mean"] = float(np.mean(oas))
    return scores, hists


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


def write_tables(scores, part: str) -> dict[str, str]:
    """The part's json, md and headline csv; returns {metric: csv text} for tables/."""
    atomic.write_json(OUT / f"{part}.json", nested(scores, part))
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
        atomic.write_text(OUT / f"{part}.csv", next(iter(csvs.values())))
    atomic.write_text(OUT / f"{part}.md", "\n".join(sections))
    return csvs


def write_tables_dir(csvs: dict[str, str]) -> None:
    """metrics/tables/ rebuilt from scratch, so a metric that disappears leaves no stale file."""
    with atomic.atomic_dir(TABLES_DIR) as tmp:
        for key, text in csvs.items():
            (tmp / f"{key}.csv").write_text(text, encoding="utf-8")


def main(cfg: Config) -> None:
    scores, hists = score_all(cfg)
    csvs: dict[str, str] = {}
    for part in ORDER:
        part_csvs = write_tables(scores, part)
        clash = set(part_csvs) & set(csvs)
        assert not clash, f"metric names shared by two parts: {clash}"
        csvs.update(part_csvs)
    write_tables_dir(csvs)
    df = pitch_hist_table(hists)
    atomic.write_text(PLOTS / "pitch_hist.csv", pitch_hist_csv(df))
    title = f"Pitch histograms: {cfg.evaluate.reference} (reference) vs generated, pooled over samples"
    atomic.write_bytes(PLOTS / "pitch_hist.png", pitch_hist_png(df, title))
    kl = table(scores, "kl", "kl_pitch")
    ll = table(scores, "loglik", "heldout_loglik_per_token")
    print(
        f"evaluate: KL({cfg.evaluate.reference} || generated) of pitch, mean over samples\n{markdown(kl)}"
        f"held-out ({cfg.evaluate.heldout}) log-likelihood per token\n{markdown(ll)}"
    )


if __name__ == "__main__":
    run(main)
