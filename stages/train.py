"""Stage `train@<voice>-<role>`: fit one model (role `model` or `baseline`) on one voice."""

import argparse
import json
import sys
from pathlib import Path

from neshmm import atomic
from neshmm.config import Config, HMMConfig
from neshmm.errors import ConfigError
from neshmm.models import build_model
from neshmm.models.skipped import save_skipped
from neshmm.data.token_store import load_voice
from stages._common import run

TOKENS = Path("data/tokens")
LOGS = Path("logs")
ROLES = ("model", "baseline")


def too_little_data(cfg: Config, n_tokens: int) -> str | None:
    """Why a voice is skipped (not failed): fewer tokens than ``data.min_train_tokens``.

    A corpus may simply have (almost) no notes for a voice; that voice gets a placeholder
    model marked ``skipped`` that sample and evaluate carry through, and the other voices
    still train.
    """
    if n_tokens < max(1, cfg.data.min_train_tokens):
        return f"{n_tokens} training tokens < data.min_train_tokens={cfg.data.min_train_tokens}"
    return None


def check_model_fits_data(cfg_model, role: str, voice: str, n_tokens: int) -> None:
    """A voice with enough data but fewer tokens than HMM states is a config error.

    With more hidden states than training tokens some states can never see data, so the
    run would measure nothing; it fails before fitting, naming the key and the maximum.
    """
    if isinstance(cfg_model, HMMConfig) and cfg_model.n_components > n_tokens:
        raise ConfigError(
            f"{role}.n_components={cfg_model.n_components}: more than the {n_tokens} training tokens "
            f"of voice {voice}; must be at most {n_tokens} (or train on more files: data.sample_fraction)"
        )


def train_one(
    cfg: Config, voice: str, role: str, out: Path, tokens_dir: Path = TOKENS, logs: Path = LOGS
) -> None:
    cfg_model = getattr(cfg, role)
    tokens = load_voice(tokens_dir, voice)
    ids, lengths = tokens.ids("train")
    reason = too_little_data(cfg, len(ids))
    if reason:
        save_skipped(out, cfg_model.name, voice, reason)
        print(f"warning: train {voice}/{role}: skipped, {reason}", file=sys.stderr)
        return
    check_model_fits_data(cfg_model, role, voice, len(ids))
    model = build_model(cfg_model, tokens.vocab.size)
    if hasattr(model, "n_jobs"):
        model.n_jobs = cfg.jobs  # E-step worker processes; 0 = one per core (not saved)
    model.fit(ids, lengths)
    model.save(out, voice=voice, role=role)
    info = model.fit_info
    atomic.write_json(
        logs / f"train_{role}_{voice}.json",
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
