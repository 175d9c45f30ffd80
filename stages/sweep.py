"""Hydra entry point for sweeps: one pipeline run (train -> sample -> score) per job.

    python -m stages.sweep -m model.n_components=2,4,8,16,32 model=hmm,markov
    python -m stages.sweep -m hydra/launcher=parallel sweep.n_jobs=2 model.n_components=2,4,8
    python -m stages.sweep -m hydra/sweeper=optuna_loglik      # needs the [optuna] extra

Config: conf/sweep.yaml (conf/config.yaml plus `sweep:` settings). Each job writes only into
its Hydra job folder and the cache; the summary (table and plot) is written at the end of a
multirun by neshmm.sweep.callback, or any time by `python -m stages.sweep_summary <dir>`.
"""

import os
import secrets

import hydra
from omegaconf import DictConfig, OmegaConf

from neshmm.sweep.job import run_job

# The sweep folder's unique suffix (conf/sweep.yaml). Cached like Hydra's own `now`, so the
# value resolved in the launching process is the one every job of the sweep sees.
OmegaConf.register_new_resolver(
    "neshmm_sweep_id", lambda: f"{os.getpid()}-{secrets.token_hex(2)}", use_cache=True, replace=True
)


@hydra.main(version_base="1.3", config_path="../conf", config_name="sweep")
def main(cfg: DictConfig) -> float:
    return run_job(cfg)


if __name__ == "__main__":
    main()
