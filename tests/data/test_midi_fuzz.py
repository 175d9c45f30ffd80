"""Fuzzing the MIDI reader, and checking it against miditoolkit on demo and real files.

The fuzz test mutates real MIDI bytes (demo files and one hand-built file) in the ways
files get damaged (cut, overwritten, spliced, chunk lengths lied about) and asserts that
the reader raises nothing but MidiReadError, and that the corpus walk raises nothing at
all. It is bounded (``max_examples``, a few seconds) so it runs in every CI run; the
seeded corpus of real files makes failures reproducible.
"""

from __future__ import annotations

import struct
from pathlib import Path

import miditoolkit
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neshmm.data.corpus import parse_file
from neshmm.data.demo_corpus import generate_corpus
from neshmm.data.midi_io import MidiReadError, parse_midi_bytes, read_midi

from helpers import NESMDB_DIR, requires_nesmdb
from helpers import good_song

_DEMO: dict[str, list[Path]] = {}


def demo_files(tmp_root: Path) -> list[Path]:
    if "files" not in _DEMO:
        paths = generate_corpus(tmp_root / "demo", seed=3, n_train=4, n_valid=1, n_test=1)
        _DEMO["files"] = [p for split in paths.values() for p in split]
    return _DEMO["files"]


@pytest.fixture(scope="module")
def seeds(tmp_path_factory) -> list[bytes]:
    files = demo_files(tmp_path_factory.mktemp("fuzz"))
    # Small seeds keep each example fast; the hand-built file covers a different writer.
    return [p.read_bytes()[:6000] for p in files[:3]] + [good_song()]


@st.composite
def mutations(draw, n_seeds: int):
    """A seed index and a list of edits that damage MIDI files the way life does."""
    edits = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["cut", "flip", "insert", "delete", "duplicate", "length", "status"]))
        edits.append((kind, draw(st.floats(0, 1)), draw(st.floats(0, 1)), draw(st.binary(min_size=1, max_size=8))))
    return draw(st.integers(0, n_seeds - 1)), edits


def apply(data: bytes, edits) -> bytes:
    b = bytearray(data)
    for kind, x, y, blob in edits:
        if not b:
            break
        i = min(int(x * len(b)), len(b) - 1)
        j = min(len(b), i + 1 + int(y * 64))
        if kind == "cut":
            b = b[:i]
        elif kind == "flip":
            b[i] ^= blob[0] or 0xFF
        elif kind == "insert":
            b[i:i] = blob
        elif kind == "delete":
            del b[i:j]
        elif kind == "duplicate":
            b[i:i] = b[i:j]
        elif kind == "length":
            # Rewrite a chunk length (MThd's or an MTrk's) with a lie, big or small.
            starts = [k for k in range(0, len(b) - 8) if b[k : k + 4] in (b"MThd", b"MTrk")]
            if starts:
                k = starts[int(y * len(starts)) % len(starts)]
                b[k + 4 : k + 8] = struct.pack(">I", int.from_bytes(blob[:4].ljust(4, b"\0"), "big"))
        elif kind == "status":
            b[i] = 0x80 | (blob[0] & 0x7F)  # a stray status byte
    return bytes(b)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_midi_raises_only_midi_read_error(seeds, data):
    index, edits = data.draw(mutations(len(seeds)))
    blob = apply(seeds[index], edits)
    try:
        song = parse_midi_bytes(blob)
    except MidiReadError as exc:
        assert exc.reason in MidiReadError.REASONS
        return
    # Whatever parses is well-formed: int arrays, valid pitches/velocities, end >= start.
    for track in song.tracks:
        n = track.notes
        assert n.dtype == np.int64 and n.shape[1] == 4
        assert ((n[:, 2] >= 0) & (n[:, 2] <= 127) & (n[:, 3] >= 1) & (n[:, 3] <= 127) & (n[:, 1] >= n[:, 0])).all()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_corpus_walk_never_raises_on_mutated_files(seeds, tmp_path, data):
    index, edits = data.draw(mutations(len(seeds)))
    path = tmp_path / "f.mid"
    path.write_bytes(apply(seeds[index], edits))
    result = parse_file(path, "f.mid")
    assert result.skipped is None or result.skipped in {
        "empty_file", "not_midi", "truncated_midi", "malformed_midi", "unsupported_midi", "no_notes"
    }


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_raise_only_midi_read_error(blob):
    for data in (blob, b"MThd" + blob, b"MThd\x00\x00\x00\x06\x00\x01\x00\x01\x01\xe0MTrk" + blob):
        try:
            parse_midi_bytes(data)
        except MidiReadError:
            pass


# --- agreement with miditoolkit -----------------------------------------------------------


def notes_by_track(path: Path) -> tuple[int, list]:
    song = read_midi(path)
    ours = sorted(
        (t.name, sorted(map(tuple, t.notes.tolist()))) for t in song.tracks if len(t.notes)
    )
    return song.ticks_per_beat, ours


def notes_by_miditoolkit(path: Path) -> tuple[int, list]:
    midi = miditoolkit.MidiFile(str(path))
    ref = sorted(
        (inst.name, sorted((n.start, n.end, n.pitch, n.velocity) for n in inst.notes))
        for inst in midi.instruments
        if inst.notes
    )
    return midi.ticks_per_beat, ref


def test_reader_agrees_with_miditoolkit_on_demo_files(tmp_path_factory):
    files = demo_files(tmp_path_factory.mktemp("agree"))
    assert files
    for path in files:
        assert notes_by_track(path) == notes_by_miditoolkit(path), path.name


@requires_nesmdb()
@pytest.mark.nesmdb
def test_reader_agrees_with_miditoolkit_on_200_real_files():
    files = sorted((NESMDB_DIR / "train").glob("*.mid")) + sorted((NESMDB_DIR / "valid").glob("*.mid"))
    step = max(1, len(files) // 200)
    checked = 0
    for path in files[::step][:200]:
        assert notes_by_track(path) == notes_by_miditoolkit(path), path.name
        checked += 1
    assert checked >= min(200, len(files))
