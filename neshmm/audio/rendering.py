"""Turn generated and real pieces into WAV files and piano rolls (the work of stage `render`).

Generated pieces come from ``samples/index.json``; reference pieces are
``render.n_reference`` files of a prepared split (already parsed, no MIDI reading), cut to
the same number of beats as the samples so both are heard and seen at the same length.
Rendering one piece is independent of every other, so pieces are spread over worker
processes; results come back in a fixed order and contain no timings, so the output
folder is identical whatever the number of workers.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from neshmm import atomic
from neshmm.data.corpus import Split
from neshmm.errors import DataError
from neshmm.data.midi_io import MidiReadError, read_midi
from neshmm.audio.pianoroll import Roll, roll_png, save_png, stacked_figure
from neshmm.audio.synth import Voicing, synthesize, to_pcm16
from neshmm.data.voices import VOICES, assign_voices


@dataclass
class Piece:
    """One piece to render; ``key`` is its path under the output folder, without suffix."""

    key: str
    kind: str  # "generated" or "reference"
    title: str
    notes: dict[str, np.ndarray]
    ticks_per_beat: int
    beats: float
    info: dict = field(default_factory=dict)

    def roll(self) -> Roll:
        return Roll(self.title, self.notes, self.ticks_per_beat, self.beats)


def model_label(config: dict) -> str:
    """``hmm n_components=16``: the model and the hyperparameter that tells its family apart."""
    from neshmm.models import model_class, model_names

    name = config.get("name", "?")
    # An unregistered model (the joint one) is labelled by its number of hidden states.
    key = model_class(name).label_param if name in model_names() else ("n_components" if "n_components" in config else None)
    return f"{name} {key}={config[key]:g}" if key in config else name


def crop(notes: np.ndarray, end_tick: int) -> np.ndarray:
    """Notes starting before ``end_tick``, the last one cut at ``end_tick``."""
    notes = np.asarray(notes, dtype=np.int64).reshape(-1, 4)
    kept = notes[notes[:, 0] < end_tick].copy()
    kept[:, 1] = np.minimum(kept[:, 1], end_tick)
    return kept


def sounding_voices(notes: dict[str, np.ndarray]) -> int:
    return sum(1 for v in VOICES if len(notes.get(v, ())) > 0)


def generated_pieces(samples: Path, index: dict, roles: list[str], max_per_role: int, models: dict[str, dict]) -> list[Piece]:
    pieces = []
    for role in roles:
        if role not in index["roles"]:
            raise DataError(f"{samples}/index.json: no role {role!r} (has {sorted(index['roles'])}); fix render.roles")
        files = index["roles"][role]["files"]
        if max_per_role:
            files = files[:max_per_role]
        for entry in files:
            path = samples / entry["file"]
            try:
                song = read_midi(path)
            except MidiReadError as exc:
                raise DataError(f"{path}: {exc}; rerun `dvc repro sample`") from None
            notes = assign_voices(song).notes
            name = Path(entry["file"]).stem
            title = (
                f"{model_label(models[role])} ({role}) · piece {name} · "
                f"{sounding_voices(notes)} voices · seed {index['seed']}"
            )
            pieces.append(
                Piece(
                    key=f"{role}/{name}",
                    kind="generated",
                    title=title,
                    notes=notes,
                    ticks_per_beat=song.ticks_per_beat,
                    beats=float(index["beats"]),
                    info={"role": role, "source": f"samples/{entry['file']}", "tokens": entry.get("tokens", {})},
                )
            )
    return pieces


def song_beats(split: Split, i: int) -> float:
    """Length of file ``i`` in beats: the end of its last note."""
    ends = [int(split.voice_notes(v, i)[:, 1].max()) for v in VOICES if len(split.voice_notes(v, i))]
    return max(ends, default=0) / int(split.ticks_per_beat[i])


def choose_references(split: Split, n: int, beats: float) -> list[int]:
    """The first ``n`` files (in split order) that last at least ``beats``, topped up with the longest others.

    Many NES-MDB files are jingles of a few seconds; preferring full-length pieces makes the
    comparison with ``beats``-long samples fair, and the choice stays deterministic.
    """
    lengths = [song_beats(split, i) for i in range(len(split.files))]
    long_enough = [i for i, b in enumerate(lengths) if b >= beats][:n]
    chosen = set(long_enough)
    rest = sorted((i for i in range(len(lengths)) if i not in chosen), key=lambda i: (-lengths[i], i))
    return sorted(long_enough + rest[: n - len(long_enough)])


def reference_pieces(split_path: Path, n: int, beats: float) -> list[Piece]:
    """``n`` real pieces of a prepared split (see :func:`choose_references`), cut to ``beats`` beats."""
    if n == 0:
        return []
    split = Split.load(split_path)
    pieces = []
    for k, i in enumerate(choose_references(split, n, beats)):
        name = split.files[i]
        tpb = int(split.ticks_per_beat[i])
        end_tick = int(round(beats * tpb))
        notes = {v: crop(split.voice_notes(v, i), end_tick) for v in VOICES}
        notes = {v: x for v, x in notes.items() if len(x)}
        length = min(beats, song_beats(split, i))
        pieces.append(
            Piece(
                key=f"reference/{k:03d}",
                kind="reference",
                title=f"real: {name} · first {length:g} beats · {sounding_voices(notes)} voices",
                notes=notes,
                ticks_per_beat=tpb,
                beats=length,
                info={"source": f"{split_path.stem}/{name}"},
            )
        )
    return pieces


def write_wav(path: Path, sample_rate: int, pcm: np.ndarray) -> None:
    """16-bit mono PCM as a canonical 44-byte-header WAV, atomically.

    The standard library's ``wave`` writes the same bytes as ``scipy.io.wavfile.write``
    (tested) and imports in a millisecond instead of ~0.2 s.
    """
    import wave

    with atomic.atomic_path(path) as tmp, wave.open(str(tmp), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(np.ascontiguousarray(pcm, dtype="<i2").tobytes())


def render_piece(piece: Piece, out: Path, sample_rate: int, voicing: Voicing, gain: float) -> dict:
    """Write ``<key>.wav`` and ``<key>.png`` under ``out``; return the manifest entry."""
    t0 = time.perf_counter()
    n_samples = int(round(piece.beats * sample_rate * 60.0 / 120.0))
    audio = synthesize(piece.notes, piece.ticks_per_beat, n_samples, sample_rate, voicing)
    pcm = to_pcm16(audio, gain)
    wav = out / f"{piece.key}.wav"
    write_wav(wav, sample_rate, pcm)
    png = out / f"{piece.key}.png"
    roll_png(piece.roll(), png)
    entry = {
        "key": piece.key,
        "kind": piece.kind,
        "title": piece.title,
        "wav": f"{piece.key}.wav",
        "png": f"{piece.key}.png",
        "seconds": round(n_samples / sample_rate, 6),
        "peak": round(float(np.abs(pcm).max(initial=0)) / 32767.0, 6),
        "clipped_samples": int(np.count_nonzero(np.abs(audio * gain) > 1.0)),
        "notes": {v: int(len(piece.notes.get(v, ()))) for v in VOICES},
        **piece.info,
    }
    return {"entry": entry, "wall_seconds": time.perf_counter() - t0}


@dataclass
class Comparison:
    """The comparison picture (:func:`comparison`) as one more job for the render workers."""

    pieces: list[Piece]
    png: Path


def render_job(job: Piece | Comparison, out: Path, sample_rate: int, voicing: Voicing, gain: float):
    """What one worker does with one job: a piece's files, or the comparison picture."""
    if isinstance(job, Comparison):
        return comparison(job.pieces, job.png)
    return render_piece(job, out, sample_rate, voicing, gain)


def render_all(pieces: list[Piece], out: Path, sample_rate: int, voicing: Voicing, gain: float,
               jobs: int) -> tuple[list[dict], str | None]:
    """Render every piece and ``out/compare.png`` (in parallel when jobs > 1), printing one
    line per finished piece; return the manifest entries and the comparison's file name.

    The comparison picture is the first job: drawn by a worker while the others render
    pieces (it is the longest job, so starting it first keeps the workers evenly busy).
    """
    from functools import partial

    from neshmm.parallel import ordered_map

    work: list[Piece | Comparison] = [Comparison(comparison_pieces(pieces), out / "compare.png"), *pieces]
    if jobs > 1 and len(work) > 1:
        # Loaded here, before the workers fork, so that they start with matplotlib, the
        # piano-roll figure and the synthesizer's compiled loops instead of each loading
        # them (about a second per worker).
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot  # noqa: F401

        from neshmm.audio import apu_kernel  # noqa: F401
        from neshmm.audio.pianoroll import _roll_figure

        _roll_figure()

    results = ordered_map(partial(render_job, out=out, sample_rate=sample_rate, voicing=voicing, gain=gain), work, jobs)
    compare = next(results)
    entries = []
    for i, result in enumerate(results, 1):
        e = result["entry"]
        clip = f", {e['clipped_samples']} samples clipped" if e["clipped_samples"] else ""
        print(
            f"render [{i}/{len(pieces)}] {e['wav']} ({e['seconds']:.1f} s audio, peak {e['peak']:.2f}{clip}) "
            f"+ {e['png']} in {result['wall_seconds']:.1f} s",
            flush=True,
        )
        entries.append(e)
    return entries, compare


def comparison_pieces(pieces: list[Piece]) -> list[Piece]:
    """The first real piece, then the first piece of every generated role."""
    chosen: list[Piece] = []
    seen = set()
    for p in pieces:
        group = p.info.get("role", p.kind)
        if group not in seen:
            seen.add(group)
            chosen.append(p)
    chosen.sort(key=lambda p: p.kind != "reference")
    return chosen


def comparison(pieces: list[Piece], out_png: Path) -> str | None:
    """One picture: the first real piece above the first piece of every generated role.

    Pieces are stacked on one time axis (:func:`stacked_figure`), as many as there are
    groups (real excerpt, per-voice model, joint model, ...), each panel holding all four
    voices so that whether they fit together can be seen.
    """
    chosen = comparison_pieces(pieces)
    if not chosen:
        return None
    beats = max(p.beats for p in chosen)
    rolls = [Roll(p.title, p.notes, p.ticks_per_beat, beats) for p in chosen]
    save_png(stacked_figure(rolls), out_png, dpi=90)
    return out_png.name


def load_model_configs(models: Path, roles: list[str], voices: list[str]) -> dict[str, dict]:
    """Per role: the model config and per-voice fit facts, as saved in the model files."""
    from neshmm.models.base import read_model_file

    out = {}
    for role in roles:
        config: dict = {}
        fit = {}
        for voice in voices:
            path = models / role / f"{voice}.npz"
            if not path.exists():
                continue
            meta, _ = read_model_file(path)
            config = config or dict(meta.get("config") or {"name": meta.get("model", "?")})
            fit[voice] = {"skipped": meta["reason"]} if meta.get("skipped") else meta.get("fit", {})
        out[role] = {**config, "_fit": fit}
    return out


def load_metrics(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.exists() else None
