"""Hydra callback that writes the sweep summary when a multirun ends (see conf/sweep.yaml).

It runs in the launching process after every job has returned, whatever the launcher
(basic, joblib, submitit), so the table sees all jobs. Failed jobs do not stop the other
jobs; they make the command exit 1 after the summary is written, so scripts notice.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig


class SweepSummary(Callback):
    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from neshmm.sweep.summary import write_summary

        summary = write_summary(Path(str(config.hydra.sweep.dir)))
        print(summary.headline())
        print("summary: " + ", ".join(str(p) for p in summary.files))
        failed = summary.counts()["failed"]
        if failed:
            print(f"error: {failed} job(s) failed; see {summary.files[1]}", file=sys.stderr)
            sys.exit(1)
