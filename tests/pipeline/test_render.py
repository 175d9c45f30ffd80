"""Stage `render` on a small, real project folder: WAVs, piano rolls, the HTML page in Chromium.

The folder holds what the upstream stages would leave (sample MIDI files and their index,
a prepared split, fitted models, a KL metrics file), made with the project's own writers,
so the stage is exercised exactly as `dvc repro render` runs it.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.io import wavfile

from neshmm import atomic
from neshmm.config import to_config
from neshmm.models.hmm import HMMConfig
from neshmm.models.markov import MarkovConfig
from neshmm.data.corpus import FileResult, Split, build_split
from neshmm.data.demo_corpus import generate_song
from neshmm.errors import ConfigError, DataError
from neshmm.data.midi_io import write_midi
from neshmm.models import build_model
from neshmm.audio.rendering import crop, reference_pieces
from neshmm.data.voices import PROGRAMS, VOICES

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
TPB = 22050
BEATS = 8.0
SR = 44100


def make_project(root: Path) -> Path:
    end = int(BEATS * TPB)
    index = {"beats": BEATS, "ticks_per_beat": TPB, "seed": 0, "roles": {}}
    for role_index, (role, model) in enumerate((("model", "hmm"), ("baseline", "markov"))):
        files = []
        for piece in range(2):
            song = generate_song(np.random.default_rng([7, role_index, piece]), n_bars=16)
            notes = {v: crop(n, end) for v, n in song.items()}
            write_midi(root / "samples" / role / f"{piece:03d}.mid", notes, TPB, PROGRAMS, end_tick=end)
            files.append({"file": f"{role}/{piece:03d}.mid", "tokens": {v: len(n) for v, n in notes.items()}})
        index["roles"][role] = {"model": model, "files": files, "skipped_voices": {}}
    atomic.write_json(root / "samples" / "index.json", index)
    refs = [
        FileResult(f"{i:03d}_Real_Song.mid", ticks_per_beat=TPB, notes=generate_song(np.random.default_rng([9, i]), n_bars=16))
        for i in range(3)
    ]
    build_split(refs).save(root / "data" / "prepared" / "valid.npz")
    rng = np.random.default_rng(0)
    for role, cfg in (("model", HMMConfig(n_components=2, n_iter=2)), ("baseline", MarkovConfig())):
        for voice in VOICES:
            ids = rng.integers(1, 6, 60)
            build_model(cfg, 6).fit(ids, np.array([30, 30])).save(root / "models" / role / f"{voice}.npz", voice=voice, role=role)
    kl = {v: {"hmm": {"kl_pitch": 0.125, "kl_pitch_ci_low": 0.1, "kl_pitch_ci_high": 0.15}, "markov": {"kl_pitch": 0.25}, "real_valid": {"kl_pitch": 0.0625}} for v in VOICES}
    atomic.write_json(root / "metrics" / "kl.json", kl)
    return root


def render(root: Path, monkeypatch, **overrides) -> Path:
    from neshmm.pipeline import render as step

    monkeypatch.chdir(root)
    jobs = overrides.pop("jobs", 1)
    # The per-voice roles only: this project has no joint model (tests/e2e covers it).
    cfg = to_config({"render": {"n_reference": 2, "roles": ["model", "baseline"], **overrides}, "jobs": jobs})
    step.run(cfg, Path("samples"), Path("models"), Path("data/prepared"), Path("metrics/kl.json"), Path("render"))
    return root / "render"


def digest(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> Path:
    root = make_project(tmp_path_factory.mktemp("render"))
    with pytest.MonkeyPatch.context() as mp:
        render(root, mp)
    return root / "render"


def test_every_sample_and_reference_becomes_wav_and_png(rendered: Path):
    keys = ["model/000", "model/001", "baseline/000", "baseline/001", "reference/000", "reference/001"]
    for key in keys:
        rate, pcm = wavfile.read(rendered / f"{key}.wav")
        assert rate == SR and pcm.dtype == np.int16 and pcm.ndim == 1
        assert len(pcm) == int(BEATS * TPB)  # 8 beats at 120 bpm = 4 s
        assert np.abs(pcm).max() > 500, key  # not silent
        png = (rendered / f"{key}.png").read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    assert not (rendered / "reference" / "002.wav").exists()  # n_reference = 2 of 3
    assert (rendered / "compare.png").stat().st_size > 5000


def test_index_html_lists_pictures_players_metrics_and_config(rendered: Path):
    html = (rendered / "index.html").read_text()
    for key in ("model/000", "model/001", "baseline/000", "baseline/001", "reference/000", "reference/001"):
        assert f'src="{key}.png"' in html and f'<audio controls preload="none" src="{key}.wav">' in html
    assert 'src="compare.png"' in html
    assert "0.125 [0.1, 0.15]" in html and "0.25" in html and "real_valid" in html  # metrics/kl.json
    assert "&quot;n_components&quot;: 2" in html and "&quot;alpha&quot;: 1.0" in html  # model configs
    assert html.index("model: hmm") < html.index("baseline: markov")  # render.roles order


def test_titles_name_model_voices_and_seed(rendered: Path):
    import json

    manifest = json.loads((rendered / "render.json").read_text())
    titles = {e["key"]: e["title"] for e in manifest["pieces"]}
    assert titles["model/000"].startswith("hmm n_components=2 (model) · piece 000")
    assert "voices · seed 0" in titles["baseline/001"]
    assert titles["reference/000"].startswith("real: 000_Real_Song.mid · first 8 beats")


def test_render_is_deterministic_whatever_the_worker_count(rendered: Path, tmp_path, monkeypatch):
    again = make_project(tmp_path / "again")
    assert digest(render(again, monkeypatch, jobs=2)) == digest(rendered)


def test_fewer_pieces_leave_no_stale_files(tmp_path, monkeypatch):
    root = make_project(tmp_path)
    render(root, monkeypatch)
    out = render(root, monkeypatch, roles=["model"], max_per_role=1, n_reference=0)
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.wav")) == ["model/000.wav"]
    assert "baseline" not in (out / "index.html").read_text().split("<h2")[1:][-1]


def test_reference_pieces_are_cut_to_the_sample_length(tmp_path):
    make_project(tmp_path)
    pieces = reference_pieces(tmp_path / "data/prepared/valid.npz", 5, 2.0)
    assert len(pieces) == 3  # all there are
    for piece in pieces:
        assert piece.beats <= 2.0
        for notes in piece.notes.values():
            assert notes[:, 1].max() <= 2 * TPB and (notes[:, 1] > notes[:, 0]).all()
    split = Split.load(tmp_path / "data/prepared/valid.npz")
    assert len(pieces[0].notes["p1"]) < len(split.voice_notes("p1", 0))


def test_crop():
    notes = np.array([[0, 10, 60, 5], [8, 20, 62, 5], [20, 30, 64, 5]])
    np.testing.assert_array_equal(crop(notes, 15), [[0, 10, 60, 5], [8, 15, 62, 5]])


def test_config_rejects_bad_render_values():
    with pytest.raises(ConfigError, match=r"render\.duty\.p1=0\.3"):
        to_config({"render": {"duty": {"p1": 0.3}}})
    with pytest.raises(ConfigError, match=r"render\.roles"):
        to_config({"render": {"roles": ["model", "other"]}})
    with pytest.raises(ConfigError, match=r"render\.sample_rate"):
        to_config({"render": {"sample_rate": 100}})


def test_unknown_role_in_samples_is_a_data_error(tmp_path, monkeypatch):
    root = make_project(tmp_path)
    shutil.rmtree(root / "samples" / "baseline")
    import json

    index = json.loads((root / "samples/index.json").read_text())
    del index["roles"]["baseline"]
    atomic.write_json(root / "samples/index.json", index)
    with pytest.raises(DataError, match="no role 'baseline'"):
        render(root, monkeypatch)


def test_missing_samples_is_one_line_error(tmp_path):
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    proc = subprocess.run([sys.executable, "-m", "stages.render"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].endswith("]: samples/index.json: missing; run `dvc repro sample`"), lines


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs headless Chromium: apt-get install -y chromium chromium-driver")
def test_index_html_renders_in_headless_chromium(rendered: Path, tmp_path):
    from PIL import Image

    shot = tmp_path / "shot.png"
    cmd = [
        str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,2400", "--hide-scrollbars",
        f"--screenshot={shot}", (rendered / "index.html").as_uri(),
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert shot.exists(), f"no screenshot; chromium exited {proc.returncode}: {proc.stderr[-2000:]}"
    assert shot.stat().st_size > 30_000
    with Image.open(shot) as img:
        assert img.size == (1280, 2400)
        rgb = np.asarray(img.convert("RGB"))
    # The piano rolls' voice colours are on the page: images loaded, not broken-image icons.
    reds = ((rgb[..., 0] > 180) & (rgb[..., 1] < 90) & (rgb[..., 2] < 90)).sum()
    greens = ((rgb[..., 1] > 120) & (rgb[..., 0] < 90) & (rgb[..., 2] < 90)).sum()
    assert reds > 500 and greens > 500, (reds, greens)


def test_references_prefer_pieces_as_long_as_the_samples():
    def song(bars: int) -> dict[str, np.ndarray]:
        return generate_song(np.random.default_rng(bars), n_bars=bars)

    files = [FileResult("a_jingle.mid", TPB, {"p1": np.array([[0, TPB, 60, 9]])}), *(FileResult(f"s{i}.mid", TPB, song(16)) for i in range(3))]
    split = build_split(files)
    from neshmm.audio.rendering import choose_references

    assert choose_references(split, 2, 32.0) == [1, 2]  # the 1-beat jingle is passed over
    assert choose_references(split, 4, 32.0) == [0, 1, 2, 3]  # topped up when too few are long
    assert choose_references(split, 2, 10_000.0) == [1, 2]  # none long enough: the longest


def test_file_names_that_look_like_mathtext_are_printed_as_text(tmp_path, monkeypatch):
    """A reference named ``$x^$.mid`` (or ``$\\frac$``) crashed matplotlib's mathtext parser
    with a traceback and left no render/ folder; titles are plain text now."""
    root = make_project(tmp_path)
    refs = [
        FileResult(name, ticks_per_beat=TPB, notes=generate_song(np.random.default_rng([9, i]), n_bars=16))
        for i, name in enumerate(["$x^$.mid", r"a $\frac{$ b.mid"])
    ]
    build_split(refs).save(root / "data" / "prepared" / "valid.npz")
    out = render(root, monkeypatch, max_per_role=1)
    titles = (out / "render.json").read_text()
    assert "$x^$.mid" in titles
    assert (out / "reference" / "000.png").stat().st_size > 5000 and (out / "compare.png").exists()
