"""Stage `train@<voice>-<role>`: fit one model on one voice (neshmm.pipeline.train)."""

import argparse

from neshmm.config import ROLES
from neshmm.errors import ConfigError
from neshmm.pipeline import train
from stages._common import PATHS, run


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--voice", required=True)
    p.add_argument("--role", required=True, choices=ROLES)
    args = p.parse_args(argv)

    def step(cfg):
        if args.voice not in cfg.voices:
            raise ConfigError(f"--voice {args.voice}: not in voices={list(cfg.voices)}")
        out, log = PATHS.model_file(args.role, args.voice), PATHS.fit_log(args.role, args.voice)
        metrics, em = PATHS.train_metrics(args.role, args.voice), PATHS.em_curve(args.role, args.voice)
        return train.run(cfg, args.voice, args.role, PATHS.tokens, out, log, metrics, em)

    run("train", step)


if __name__ == "__main__":
    main()
