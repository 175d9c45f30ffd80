"""Step `evaluate`: KL tables, held-out likelihood and MGEval scores per voice and model,
and the pitch histograms per voice as plots (CSV for `dvc plots`, and a PNG).

:func:`score_all` is also what a sweep job scores with (``with_mgeval=False``: the slow
MGEval part is left to `dvc repro`), so a sweep's figures are the evaluate stage's figures.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from neshmm import atomic
from neshmm.config import JOINT, ROLES, Config
from neshmm.data.token_store import load_voice
from neshmm.data.tokens import quantizer_from_config
from neshmm.evaluation import metrics
from neshmm.evaluation.plots import pitch_hist_csv, pitch_hist_png, pitch_hist_table
from neshmm.evaluation.scoring import VoiceScore, control_excerpts, piece_tokens, score_generated, score_likelihood
from neshmm.evaluation.tables import ORDER, column_name, control_name, markdown, table, write_tables, write_tables_dir
from neshmm.models import load_model
from neshmm.models.base import read_model_file


def score_all(cfg: Config, tokens_dir: Path, models: Path, samples: Path, with_mgeval: bool = True):
    """Scores per voice and model (column name), and pitch-count histograms per voice and source."""
    q = quantizer_from_config(cfg.tokenize)
    ev, s = cfg.evaluate, cfg.sample
    bins = list(q.duration_bins)
    index = json.loads((samples / "index.json").read_text())
    roles = {role: index["roles"][role] for role in ROLES}
    pieces = {role: [piece_tokens(samples / f["file"], q) for f in info["files"]] for role, info in roles.items()}
    # The joint model's pieces, tokenized per voice like the others (absent in a sweep job).
    joint = [piece_tokens(samples / f["file"], q) for f in index["roles"][JOINT]["files"]] if JOINT in index["roles"] else None
    control = control_name(ev.heldout)
    scores: dict[str, dict[str, VoiceScore]] = {}
    hists: dict[str, dict[str, np.ndarray]] = {}
    for voice in cfg.voices:
        tokens = load_voice(tokens_dir, voice)
        ref = tokens.sequences(ev.reference).as_list()
        held = tokens.sequences(ev.heldout)
        scores[voice] = {}
        hists[voice] = {ev.reference: metrics.pitch_histogram(ref)}
        for role, info in roles.items():
            name = column_name(roles, role)
            meta, _ = read_model_file(models / role / f"{voice}.npz")
            if meta.get("skipped"):
                scores[voice][name] = VoiceScore(skipped=meta["reason"])
                continue
            gen = [p.get(voice, np.zeros((0, 3), dtype=np.int64)) for p in pieces[role]]
            score = score_generated(ref, gen, bins, ev.epsilon, s.seed, with_mgeval)
            model = load_model(models / role / f"{voice}.npz")
            score.loglik = score_likelihood(model, tokens.vocab, held.tokens, held.lengths, gen, ev.unk_smoothing)
            scores[voice][name] = score
            hists[voice][name] = metrics.pitch_histogram(gen)
        if joint is not None:
            gen = [p.get(voice, np.zeros((0, 3), dtype=np.int64)) for p in joint]
            scores[voice][JOINT] = score_generated(ref, gen, bins, ev.epsilon, s.seed, with_mgeval)
            hists[voice][JOINT] = metrics.pitch_histogram(gen)
        excerpts = control_excerpts(held.as_list(), q, s.n_samples, s.beats, s.seed, voice)
        if excerpts:
            scores[voice][control] = score_generated(ref, excerpts, bins, ev.epsilon, s.seed, with_mgeval)
            hists[voice][control] = metrics.pitch_histogram(excerpts)
        else:
            scores[voice][control] = VoiceScore(skipped=f"no {ev.heldout} songs with voice {voice}")
    for by_model in scores.values():
        for score in by_model.values():
            oas = [v for k, v in score.mgeval.items() if k.startswith("oa_") and v is not None]
            if oas:
                score.mgeval["oa_mean"] = float(np.mean(oas))
    return scores, hists


def run(cfg: Config, tokens_dir: Path, models: Path, samples: Path, metrics_out: Path, plots_out: Path,
        prepared: Path | None = None) -> str:
    """``prepared`` (data/prepared) adds the whole-piece scores of every system, joint
    included: metrics/cross_voice.* and metrics/loglik_all_voices.* (:func:`score_systems`)."""
    scores, hists = score_all(cfg, tokens_dir, models, samples)
    systems_line = score_systems(cfg, scores, models, samples, prepared, metrics_out) if prepared is not None else ""
    csvs: dict[str, str] = {}
    for part in ORDER:
        part_csvs = write_tables(scores, part, metrics_out)
        clash = set(part_csvs) & set(csvs)
        assert not clash, f"metric names shared by two parts: {clash}"
        csvs.update(part_csvs)
    write_tables_dir(csvs, metrics_out / "tables")
    df = pitch_hist_table(hists)
    atomic.write_text(plots_out / "pitch_hist.csv", pitch_hist_csv(df))
    title = f"Pitch histograms: {cfg.evaluate.reference} (reference) vs generated, pooled over samples"
    atomic.write_bytes(plots_out / "pitch_hist.png", pitch_hist_png(df, title))
    kl = table(scores, "kl", "kl_pitch")
    ll = table(scores, "loglik", "heldout_loglik_per_token")
    return (
        f"evaluate: KL({cfg.evaluate.reference} || generated) of pitch, mean over samples\n{markdown(kl)}"
        f"held-out ({cfg.evaluate.heldout}) log-likelihood per token\n{markdown(ll)}{systems_line}"
    )


def score_systems(cfg: Config, scores, models: Path, samples: Path, prepared: Path, metrics_out: Path) -> str:
    """Cross-voice metrics and all-voices held-out likelihood per beat of model, baseline,
    joint (and the real control): metrics/cross_voice.{json,md}, metrics/loglik_all_voices.{json,md}."""
    from neshmm.data.corpus import Split
    from neshmm.data.token_store import training_files
    from neshmm.evaluation import joint_scoring as js
    from neshmm.pipeline.sample_joint import load as load_joint

    ev = cfg.evaluate
    index = json.loads((samples / "index.json").read_text())
    roles = {role: index["roles"][role] for role in ROLES}
    columns = {column_name(roles, role): role for role in ROLES}
    if JOINT in index["roles"]:
        columns[JOINT] = JOINT
    train = Split.load(prepared / f"{ev.reference}.npz")
    chosen = training_files(len(train.files), cfg.data.sample_fraction, cfg.data.seed) if ev.reference == "train" else None
    heldout = Split.load(prepared / f"{ev.heldout}.npz")
    systems = {col: [samples / f["file"] for f in index["roles"][role]["files"]] for col, role in columns.items()}
    cv = js.cross_voice_all(cfg, systems, train, chosen, heldout)
    atomic.write_json(metrics_out / "cross_voice.json", cv)
    atomic.write_text(metrics_out / "cross_voice.md", js.cross_voice_markdown(cv, ev.cross_voice.ci_level, ev.cross_voice.n_boot))
    beats = js.total_beats(heldout)
    ll: dict[str, dict] = {}
    for col, role in columns.items():
        if role == JOINT:
            model, vocab = load_joint(models / "joint.npz")
            held = js.joint_heldout(model, vocab, heldout, ev.unk_smoothing)
            total = held.pop("heldout_loglik_all_voices")
            ll[col] = js.per_beat_entry(total, beats, list(vocab.codes), **held)
        else:
            total, voices = js.per_voice_total({v: scores[v][col].loglik for v in scores if not scores[v][col].skipped})
            ll[col] = js.per_beat_entry(total, beats, voices)
    atomic.write_json(metrics_out / "loglik_all_voices.json", ll)
    atomic.write_text(metrics_out / "loglik_all_voices.md", js.loglik_all_markdown(ll, ev.heldout))
    per_beat = ", ".join(f"{c} {e['heldout_loglik_per_beat_all_voices']:.3f}" for c, e in ll.items()
                         if e["heldout_loglik_per_beat_all_voices"] is not None)
    return f"held-out log-likelihood per beat, all voices: {per_beat}\n{js.cross_voice_markdown(cv, ev.cross_voice.ci_level, ev.cross_voice.n_boot)}"
