"""Step `evaluate`: KL tables, held-out likelihood and MGEval scores per voice and system,
each with its interval; the headline file; the pitch histograms as plots.

:func:`score_all` is also what a sweep job scores with (``with_mgeval=False``: the slow
MGEval part is left to `dvc repro`), so a sweep's figures are the evaluate stage's figures.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neshmm import atomic
from neshmm.config import JOINT, ROLES, Config
from neshmm.data.corpus import effective_jobs
from neshmm.data.token_store import load_voice
from neshmm.data.tokens import quantizer_from_config
from neshmm.evaluation import metrics
from neshmm.evaluation.mgeval_features import BEATS_PER_BAR
from neshmm.evaluation.plots import pitch_hist_csv, pitch_hist_png, pitch_hist_table
from neshmm.evaluation.scoring import (
    MGEvalSettings,
    VoiceScore,
    control_set,
    held_out,
    piece_tokens,
    put_interval,
    reference_excerpts,
    score_generated,
    score_likelihood,
)
from neshmm.evaluation.statistics import paired_ratio_ci
from neshmm.evaluation.tables import (
    ORDER,
    column_name,
    control_name,
    headline,
    headline_entry,
    headline_markdown,
    markdown,
    table,
    write_tables,
    write_tables_dir,
)
from neshmm.evaluation.unknown import unk_probability
from neshmm.models import load_model
from neshmm.models.base import read_model_file
from neshmm.parallel import in_background, shared_map

EMPTY = np.zeros((0, 3), dtype=np.int64)


@dataclass(frozen=True)
class _Inputs:
    """What every voice's scoring reads: the config, paths, and the parsed sample pieces."""

    cfg: Config
    tokens_dir: Path
    models: Path
    roles: dict
    pieces: dict
    joint: list | None
    mg: MGEvalSettings | None


def score_all(cfg: Config, tokens_dir: Path, models: Path, samples: Path, with_mgeval: bool = True, jobs: int = 1):
    """Scores per voice and system (column name), and pitch-count histograms per voice and source.

    Voices are scored independently (every random stream is seeded from the config and
    the voice, none is shared), so ``jobs`` > 1 scores them on forked workers with the
    same numbers as ``jobs=1`` (tests/pipeline/test_evaluate_parallel.py).
    """
    q = quantizer_from_config(cfg.tokenize)
    ev, s, boot = cfg.evaluate, cfg.sample, cfg.evaluate.bootstrap
    index = json.loads((samples / "index.json").read_text())
    roles = {role: index["roles"][role] for role in ROLES}
    pieces = {role: [piece_tokens(samples / f["file"], q) for f in info["files"]] for role, info in roles.items()}
    mg = None
    if with_mgeval:
        num_bar = max(1, math.ceil(s.beats / BEATS_PER_BAR))
        mg = MGEvalSettings(ev.mgeval_mode, s.ticks_per_beat, num_bar, s.seed, boot.mgeval_resamples)
    # The joint model's pieces, tokenized per voice like the others (absent in a sweep job).
    joint = [piece_tokens(samples / f["file"], q) for f in index["roles"][JOINT]["files"]] if JOINT in index["roles"] else None
    inputs = _Inputs(cfg, tokens_dir, models, roles, pieces, joint, mg)
    if jobs > 1:
        preload_scoring()
    scores: dict[str, dict[str, VoiceScore]] = {}
    hists: dict[str, dict[str, np.ndarray]] = {}
    for voice, (by_column, voice_hists) in zip(cfg.voices, shared_map(score_voice, inputs, cfg.voices, jobs)):
        scores[voice], hists[voice] = by_column, voice_hists
    return scores, hists


def preload_scoring() -> None:
    """Import what scoring imports lazily, before the workers fork, so that they inherit
    the modules instead of each importing them again."""
    import scipy.special  # noqa: F401 - histogram KLs, KDE normalization

    from neshmm.models import hmm

    hmm.preload_scorer()


def score_voice(inputs: _Inputs, voice: str) -> tuple[dict[str, VoiceScore], dict[str, np.ndarray]]:
    """One voice's scores per system (column name) and its pitch-count histograms."""
    cfg, roles, mg = inputs.cfg, inputs.roles, inputs.mg
    q = quantizer_from_config(cfg.tokenize)
    ev, s, boot = cfg.evaluate, cfg.sample, cfg.evaluate.bootstrap
    control = control_name(ev.heldout)
    tokens = load_voice(inputs.tokens_dir, voice)
    ref = tokens.sequences(ev.reference).as_list()
    held_seqs = tokens.sequences(ev.heldout)
    p_unk = unk_probability(*tokens.ids("train"), method=ev.unk_method)
    held = held_out(tokens.vocab, held_seqs.tokens, held_seqs.lengths, q, p_unk)
    mg_ref = reference_excerpts(ref, q, s.n_samples, s.beats, s.seed, voice) if mg else None
    scores: dict[str, VoiceScore] = {}
    hists: dict[str, np.ndarray] = {ev.reference: metrics.pitch_histogram(ref)}
    for role, info in roles.items():
        name = column_name(roles, role)
        meta, _ = read_model_file(inputs.models / role / f"{voice}.npz")
        if meta.get("skipped"):
            scores[name] = VoiceScore(skipped=meta["reason"])
            continue
        gen = [p.get(voice, EMPTY) for p in inputs.pieces[role]]
        score = score_generated(ref, gen, q, ev.epsilon, boot, mg_ref.pieces if mg_ref else None, mg)
        model = load_model(inputs.models / role / f"{voice}.npz")
        score.loglik, score.per_file_loglik = score_likelihood(model, held, tokens.vocab, gen, boot)
        scores[name] = score
        hists[name] = metrics.pitch_histogram(gen)
    if inputs.joint is not None:
        gen = [p.get(voice, EMPTY) for p in inputs.joint]
        scores[JOINT] = score_generated(ref, gen, q, ev.epsilon, boot, mg_ref.pieces if mg_ref else None, mg)
        hists[JOINT] = metrics.pitch_histogram(gen)
    pair(scores, column_name(roles, "model"), column_name(roles, "baseline"), held, boot)
    excerpts = control_set(held_seqs.as_list(), q, s.n_samples, s.beats, s.seed, voice)
    if excerpts.pieces:
        scores[control] = score_generated(
            ref, excerpts.pieces, q, ev.epsilon, boot, mg_ref.pieces if mg_ref else None, mg
        )
        hists[control] = metrics.pitch_histogram(excerpts.pieces)
        scores[control].kl.update(excerpts.counts("control_"))
    else:
        scores[control] = VoiceScore(
            skipped=f"no {ev.heldout} song with voice {voice} is {s.beats:g} beats long"
        )
    return scores, hists


def pair(by_column: dict[str, VoiceScore], model: str, baseline: str, held, boot) -> None:
    """The model minus the baseline in held-out log-likelihood per beat, paired on the same
    files (most of the file-to-file spread cancels), with its CI; ``..._significant`` is 1
    when the CI excludes 0."""
    m, b = by_column.get(model), by_column.get(baseline)
    if m is None or b is None or m.skipped or b.skipped or m.per_file_loglik is None or not len(held.ids):
        return
    keep = held.lengths > 0
    cmp = paired_ratio_ci(m.per_file_loglik[keep], b.per_file_loglik[keep], held.beats[keep],
                          boot.n_resamples, boot.seed, boot.level)
    put_interval(m.loglik, "heldout_loglik_per_beat_minus_baseline", cmp.difference)
    m.loglik["heldout_loglik_per_beat_minus_baseline_significant"] = int(cmp.significant)


def run(cfg: Config, tokens_dir: Path, models: Path, samples: Path, metrics_out: Path, plots_out: Path,
        prepared: Path | None = None) -> str:
    """``prepared`` (data/prepared) adds the whole-piece scores of every system, joint
    included: metrics/cross_voice.* and metrics/loglik_all_voices.* (:func:`score_systems`)."""
    jobs = effective_jobs(cfg.jobs)  # any value gives the same numbers (tests/pipeline/test_evaluate_parallel.py)
    scores, hists = score_all(cfg, tokens_dir, models, samples, jobs=jobs)
    df = pitch_hist_table(hists)
    title = f"Pitch histograms: {cfg.evaluate.reference} (reference) vs generated, pooled over samples"
    # The plot (matplotlib: an import and a render, ~1 s) is drawn on a worker meanwhile.
    with in_background(pitch_hist_png, df, title, jobs=jobs) as png:
        systems_line, whole = (score_systems(cfg, scores, models, samples, prepared, metrics_out, jobs)
                               if prepared is not None else ("", {}))
        csvs: dict[str, str] = {}
        for part in ORDER:
            part_csvs = write_tables(scores, part, metrics_out)
            clash = set(part_csvs) & set(csvs)
            assert not clash, f"metric names shared by two parts: {clash}"
            csvs.update(part_csvs)
        write_tables_dir(csvs, metrics_out / "tables")
        summary = headline(scores)
        if whole:
            summary["all_voices"] = whole
        atomic.write_json(metrics_out / "summary.json", summary)
        atomic.write_text(metrics_out / "summary.md", headline_markdown(summary))
        atomic.write_text(plots_out / "pitch_hist.csv", pitch_hist_csv(df))
        atomic.write_bytes(plots_out / "pitch_hist.png", png())
    ll = table(scores, "loglik", "heldout_loglik_per_beat")
    kl = table(scores, "kl", "kl_pitch")
    return (
        f"evaluate: held-out ({cfg.evaluate.heldout}) log-likelihood per beat\n{markdown(ll)}"
        f"KL({cfg.evaluate.reference} || generated) of pitch, mean over pieces\n{markdown(kl)}"
        f"{systems_line}headline with intervals: {metrics_out / 'summary.md'}"
    )


def score_systems(cfg: Config, scores, models: Path, samples: Path, prepared: Path, metrics_out: Path,
                  jobs: int = 1) -> tuple[str, dict]:
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
    cv = js.cross_voice_all(cfg, systems, train, chosen, heldout, jobs)
    atomic.write_json(metrics_out / "cross_voice.json", cv)
    atomic.write_text(metrics_out / "cross_voice.md", js.cross_voice_markdown(cv, ev.bootstrap.level, ev.bootstrap.n_resamples))
    beats = js.total_beats(heldout)
    ll: dict[str, dict] = {}
    for col, role in columns.items():
        if role == JOINT:
            model, vocab = load_joint(models / "joint.npz")
            held = js.joint_heldout(model, vocab, heldout, 0.0)
            total = held.pop("heldout_loglik_all_voices")
            ll[col] = js.per_beat_entry(total, beats, list(vocab.codes), **held)
        else:
            total, voices = js.per_voice_total({v: scores[v][col].loglik for v in scores if not scores[v][col].skipped})
            ll[col] = js.per_beat_entry(total, beats, voices)
    atomic.write_json(metrics_out / "loglik_all_voices.json", ll)
    atomic.write_text(metrics_out / "loglik_all_voices.md", js.loglik_all_markdown(ll, ev.heldout))
    per_beat = ", ".join(f"{c} {e['heldout_loglik_per_beat_all_voices']:.3f}" for c, e in ll.items()
                         if e["heldout_loglik_per_beat_all_voices"] is not None)
    line = f"held-out log-likelihood per beat, all voices: {per_beat}\n{js.cross_voice_markdown(cv, ev.bootstrap.level, ev.bootstrap.n_resamples)}"
    return line, whole_piece_headline(cv, ll)


# Whole-piece numbers in the headline (summary.json, key "all_voices"): do the voices play
# together, and how well does each system predict all four voices at once.
WHOLE_PIECE_HEADLINE = ("key_agreement", "harmony_consonance", "onset_coincidence_p1_tr", "kl_co_onset")


def whole_piece_headline(cv: dict, ll: dict) -> dict:
    out: dict = {}
    for system in sorted(set(cv) | set(ll)):
        row: dict = {}
        per_beat = ll.get(system, {}).get("heldout_loglik_per_beat_all_voices")
        if per_beat is not None:
            row["heldout_loglik_per_beat_all_voices"] = per_beat
        for key in WHOLE_PIECE_HEADLINE:
            row.update(headline_entry(cv.get(system, {}), key))
        if row:
            out[system] = row
    return out
