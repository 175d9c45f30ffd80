"""Stage `train@<voice>-<role>`: fit one model (role `model` or `baseline`) on one voice."""

import argparse
import json
import sys
from pathlib import Path

from neshmm import atomic
from neshmm.config import Config, HMMConfig
from neshmm.models import build_model
from neshmm.models.skipped import save_skipped
from neshmm.token_store import load_voice
from stages._common import run

TOKENS = Path("data/tokens")
ROLES = ("model", "baseline")


def too_little_data(cfg_model, n_tokens: int) -> str | None:
    if n_tokens == 0:
        return "no training tokens for this voice"
    if isinstance(cfg_model, HMMConfig) and n_tokens < cfg_model.n_components:
        return f"{n_tokens} training tokens < n_components={cfg_model.n_components}"
    return None


def train_one(cfg: Config, voice: str, role: str, out: Path) -> None:
    cfg_model = getattr(cfg, role)
    tokens = load_voice(TOKENS, voice)
    ids, lengths = tokens.ids("train")
    reason = too_little_data(cfg_model, len(ids))
    if reason:
        save_skipped(out, cfg_model.name, voice, reason)
        print(f"warning: train {voice}/{role}: skipped, {reason}", file=sys.stderr)
        return
    model = build_model(cfg_model, tokens.vocab.size).fit(ids, lengths)
    model.save(out, voice=voice, role=role)
    info = model.fit_info
    atomic.write_json(
        Path("logs") / f"train_{role}_{voice}.json",
        {**info, "fit_seconds": round(model.fit_seconds, 3)},
    )
    print(
        f"train {voice}/{role} ({model.name}): {info['n_tokens']} tokens, vocab {tokens.vocab.size}, "
        f"{info.get('n_iter', 0)} iterations, converged={info.get('converged')}, "
        f"{model.fit_seconds:.2f} s"
    )


def main_args(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--voice", required=True)
    p.add_argument("--role", required=True, choices=ROLES)
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)

    def main(cfg: Config) -> None:
        from neshmm.errors import ConfigError

        if args.voice not in cfg.voices:
            raise ConfigError(f"--voice {args.voice}: not in voices={list(cfg.voices)}")
        out = Path(args.out or f"models/{args.role}/{args.voice}.npz")
        train_one(cfg, args.voice, args.role, out)

    main.__module__ = __name__
    run(main)


if __name__ == "__main__":
    main_args()
