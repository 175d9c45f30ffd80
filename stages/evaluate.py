"""Stage `evaluate`: KL tables, held-out likelihood and MGEval scores per voice and model."""

import json
from pathlib import Path

import numpy as np

from neshmm import atomic
from neshmm.config import Config
from neshmm.evaluation import VoiceScore, markdown, nested, piece_tokens, score_generated, score_likelihood, table
from neshmm.models import load_model
from neshmm.models.base import read_model_file
from neshmm.token_store import load_voice
from neshmm.tokens import quantizer_from_config
from stages._common import run
from stages.train import ROLES

TOKENS, MODELS, SAMPLES, OUT = Path("data/tokens"), Path("models"), Path("samples"), Path("metrics")
CONTROL = "real_valid"  # column for the real-vs-real control (reference split vs held-out split)

TABLES = {
    "kl": ["kl_pitch", "kl_pitch_std", "kl_duration", "kl_velocity", "kl_pitch_class", "kl_interval", "kl_rest_ratio"],
    "loglik": ["heldout_loglik_per_token", "heldout_perplexity", "heldout_unknown_tokens", "self_loglik_per_token"],
    "mgeval": None,  # every key the metric module produces
}


def main(cfg: Config) -> None:
    q = quantizer_from_config(cfg.tokenize)
    ev = cfg.evaluate
    bins = list(q.duration_bins)
    index = json.loads((SAMPLES / "index.json").read_text())
    roles = {role: index["roles"][role] for role in ROLES}
    pieces = {role: [piece_tokens(SAMPLES / f["file"], q) for f in info["files"]] for role, info in roles.items()}
    scores: dict[str, dict[str, VoiceScore]] = {}
    for voice in cfg.voices:
        tokens = load_voice(TOKENS, voice)
        ref = tokens.sequences(ev.reference).as_list()
        held = tokens.sequences(ev.heldout)
        scores[voice] = {}
        for role, info in roles.items():
            name = info["model"]
            meta, _ = read_model_file(MODELS / role / f"{voice}.npz")
            if meta.get("skipped"):
                scores[voice][name] = VoiceScore(skipped=meta["reason"])
                continue
            gen = [p.get(voice, np.zeros((0, 3), dtype=np.int64)) for p in pieces[role]]
            s = score_generated(ref, gen, bins, ev.epsilon, cfg.sample.seed)
            model = load_model(MODELS / role / f"{voice}.npz")
            s.loglik = score_likelihood(model, tokens.vocab, held.tokens, held.lengths, gen, ev.unk_smoothing)
            scores[voice][name] = s
        control = score_generated(ref, [t for t in held.as_list()], bins, ev.epsilon, cfg.sample.seed)
        control.kl = {k: v for k, v in control.kl.items() if not k.endswith("_std")}
        scores[voice][CONTROL] = control
    for part, keys in TABLES.items():
        atomic.write_json(OUT / f"{part}.json", nested(scores, part))
        if keys is None:
            keys = sorted({k for by in scores.values() for s in by.values() for k in s.mgeval})
        sections = []
        for key in keys:
            df = table(scores, part, key)
            if df.isna().all().all():
                continue
            if key == keys[0]:
                atomic.write_text(OUT / f"{part}.csv", df.to_csv(float_format="%.6g"))
            sections.append(f"### {key}\n\n{markdown(df)}")
        atomic.write_text(OUT / f"{part}.md", "\n".join(sections))
    kl = table(scores, "kl", "kl_pitch")
    print("evaluate: KL(train || generated) of pitch, mean over samples\n" + markdown(kl))


if __name__ == "__main__":
    run(main)
