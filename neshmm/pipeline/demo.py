"""Step `demo`: generate the bundled demo corpus (deterministic, no third-party data)."""

from __future__ import annotations

from neshmm.config import Config
from neshmm.data.demo_corpus import generate_corpus


def run(cfg: Config) -> str:
    d = cfg.demo
    paths = generate_corpus(d.out, seed=d.seed, n_train=d.n_train, n_valid=d.n_valid, n_test=d.n_test)
    counts = ", ".join(f"{split} {len(p)}" for split, p in paths.items())
    return f"demo: wrote {counts} MIDI files to {d.out} (seed {d.seed})"
