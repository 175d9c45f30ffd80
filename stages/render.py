"""Stage `render`: WAV audio (NES APU synthesis) and piano rolls of samples and real pieces, plus render/index.html."""

import json
from dataclasses import asdict
from pathlib import Path

from neshmm import atomic
from neshmm.config import Config
from neshmm.data.corpus import effective_jobs
from neshmm.errors import DataError
from neshmm.audio.render_page import page
from neshmm.audio.rendering import (
    comparison,
    generated_pieces,
    load_metrics,
    load_model_configs,
    reference_pieces,
    render_all,
)
from neshmm.audio.synth import Voicing
from stages._common import run

SAMPLES, MODELS, PREPARED, KL = Path("samples"), Path("models"), Path("data/prepared"), Path("metrics/kl.json")
OUT = Path("render")


def main(cfg: Config) -> None:
    r = cfg.render
    index_path = SAMPLES / "index.json"
    if not index_path.exists():
        raise DataError(f"{index_path}: missing; run `dvc repro sample`")
    index = json.loads(index_path.read_text())
    models = load_model_configs(MODELS, list(r.roles), list(cfg.voices))
    pieces = generated_pieces(SAMPLES, index, list(r.roles), r.max_per_role, models)
    pieces += reference_pieces(PREPARED / f"{r.reference_split}.npz", r.n_reference, float(index["beats"]))
    voicing = Voicing(duty_p1=r.duty.p1, duty_p2=r.duty.p2, noise_short_mode=r.noise_short_mode)
    # Rebuild the folder from scratch so fewer samples never leave stale files behind.
    with atomic.atomic_dir(OUT) as tmp:
        entries = render_all(pieces, tmp, r.sample_rate, voicing, r.gain, effective_jobs(cfg.jobs))
        compare = comparison(pieces, tmp / "compare.png")
        render_config = asdict(r)
        atomic.write_json(tmp / "render.json", {"config": render_config, "pieces": entries})
        atomic.write_text(tmp / "index.html", page(entries, index, models, load_metrics(KL), render_config, compare))
    print(f"render: {len(entries)} pieces (WAV + piano roll) in {OUT}/; open {OUT}/index.html")


if __name__ == "__main__":
    run(main)
