"""Where every pipeline artifact lives, relative to a run's root folder.

`dvc.yaml` spells the same paths for DVC (a test checks that they agree); a sweep job uses
the same layout under its own cache entry, so no step ever builds a path by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Paths:
    root: Path = Path(".")

    @property
    def manifest(self) -> Path:
        return self.root / "data" / "manifest.json"

    @property
    def prepared(self) -> Path:
        return self.root / "data" / "prepared"

    @property
    def tokens(self) -> Path:
        return self.root / "data" / "tokens"

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def samples(self) -> Path:
        return self.root / "samples"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics"

    @property
    def plots(self) -> Path:
        return self.root / "plots"

    @property
    def render(self) -> Path:
        return self.root / "render"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    def model_file(self, role: str, voice: str) -> Path:
        return self.models / role / f"{voice}.npz"

    def fit_log(self, role: str, voice: str) -> Path:
        return self.logs / f"train_{role}_{voice}.json"

    def train_metrics(self, role: str, voice: str) -> Path:
        return self.metrics / "train" / f"{role}_{voice}.json"

    def em_curve(self, role: str, voice: str) -> Path:
        return self.plots / "em" / f"{role}_{voice}.csv"

    # The joint four-voice model (stage `train_joint`): one file, not one per voice.
    @property
    def joint_model(self) -> Path:
        return self.models / "joint.npz"

    @property
    def joint_fit_log(self) -> Path:
        return self.logs / "train_joint.json"


# Where `prepare` leaves its report when it fails (DVC removed the output folder first).
FAILED_PREPARE_REPORT = Path("logs/prepare_report.json")
