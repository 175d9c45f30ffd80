"""Step `render`: WAV audio (NES APU synthesis) and piano rolls of samples and real pieces,
plus render/index.html listing them with their metrics."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path

from neshmm import atomic
from neshmm.audio.render_page import page
from neshmm.audio.rendering import generated_pieces, load_metrics, load_model_configs, reference_pieces, render_all
from neshmm.audio.synth import Voicing
from neshmm.audio.listening import write_test
from neshmm.config import JOINT, Config
from neshmm.data.corpus import effective_jobs
from neshmm.errors import DataError


def provenance(cfg: Config) -> dict:
    """Dataset, splits and a hash of the whole validated config, for the page's header.

    Not the git commit: render/ is a DVC output, and the same inputs must give the same
    bytes at any commit (the commit that will hold this result does not even exist yet
    when it is rendered). The config hash identifies the parameters exactly; `dvc exp show`
    and `git log -p params.yaml` map it back to a run.
    """
    # `jobs` only sets how many processes work; it changes no result, so it is not hashed
    # (the page is byte-identical for any worker count).
    config = json.dumps({k: v for k, v in asdict(cfg).items() if k != "jobs"}, sort_keys=True, separators=(",", ":"))
    return {
        "dataset": f"{cfg.data.name} ({cfg.data.path})",
        "real pieces from split": cfg.render.reference_split,
        "metrics: reference / held-out split": f"{cfg.evaluate.reference} / {cfg.evaluate.heldout}",
        "config sha256 (params.yaml, validated)": hashlib.sha256(config.encode()).hexdigest()[:16],
    }


def run(cfg: Config, samples: Path, models: Path, prepared: Path, kl_metrics: Path, out: Path) -> str:
    r = cfg.render
    index_path = samples / "index.json"
    if not index_path.exists():
        raise DataError(f"{index_path}: missing; run `dvc repro sample`")
    index = json.loads(index_path.read_text())
    model_configs = load_model_configs(models, list(r.roles), list(cfg.voices))
    if JOINT in r.roles:
        model_configs[JOINT] = joint_model_config(models / "joint.npz")
    pieces = generated_pieces(samples, index, list(r.roles), r.max_per_role, model_configs)
    pieces += reference_pieces(prepared / f"{r.reference_split}.npz", r.n_reference, float(index["beats"]))
    voicing = Voicing(duty_p1=r.duty.p1, duty_p2=r.duty.p2, noise_short_mode=r.noise_short_mode)
    # Rebuilt from scratch so fewer samples never leave stale files behind.
    with atomic.atomic_dir(out) as tmp:
        entries, compare = render_all(pieces, tmp, r.sample_rate, voicing, r.gain, effective_jobs(cfg.jobs))
        render_config = asdict(r)
        atomic.write_json(tmp / "render.json", {"config": render_config, "pieces": entries})
        html = page(entries, index, model_configs, load_metrics(kl_metrics), render_config, compare,
                    provenance(cfg))
        atomic.write_text(tmp / "index.html", html)
        # Blind A/B test of the same clips, pairs in the sampling seed's order (docs/render.md).
        key = write_test(entries, tmp, cfg.sample.seed)
    listen = f"; listening test {out}/listen.html ({len(key['pairs'])} pairs)" if key else ""
    return f"render: {len(entries)} pieces (WAV + piano roll) in {out}/; open {out}/index.html{listen}"


def joint_model_config(path: Path) -> dict:
    """The joint model's config and fit facts for the page, shaped like a role's
    (:func:`~neshmm.audio.rendering.load_model_configs`)."""
    from neshmm.models.base import read_model_file

    if not path.exists():
        raise DataError(f"{path}: joint model missing; run `dvc repro train_joint` (or drop joint from render.roles)")
    meta, _ = read_model_file(path, registered=False)
    fit = {k: v for k, v in (meta.get("fit") or {}).items() if k not in ("history", "restarts")}
    return {"name": JOINT, **(meta.get("config") or {}), "_fit": {"all voices": fit}}
