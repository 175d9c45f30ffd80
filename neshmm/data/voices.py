"""The four NES voices and how a MIDI track is assigned to one of them.

The skip policy, which the corpus report counts reason by reason:

- a track is matched by its name (``p1``, ``p2``, ``tr``, ``no``; case and surrounding
  blanks ignored); a track with another name is matched by its program number (80, 81,
  38, 121) and counted as ``tracks_mapped_by_program``; a track matching neither is
  dropped (``unknown_instrument``);
- a second track claiming an already-filled voice is dropped (``duplicate_voice``);
- inside a kept track, notes that cannot be a NES note are dropped and counted:
  ``non_positive_length`` (end <= start), ``pitch_out_of_range`` (outside 1..127: NES-MDB
  has no pitch 0 in any voice, the noise voice's periods are 1..16, so a 0 is a converter
  bug), ``velocity_out_of_range`` (outside 1..127; velocity 0 is a note-off in MIDI);
  note-ons never ended by a note-off are dropped by the reader, uncounted;
- overlapping notes inside one voice are kept and counted (``notes_overlapping``): the
  tokenizer's rule for them (no rest, time moves to the note's end) is the notebook's.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from neshmm.data.midi_io import Song

VOICES: tuple[str, ...] = ("p1", "p2", "tr", "no")
PROGRAMS: dict[str, int] = {"p1": 80, "p2": 81, "tr": 38, "no": 121}
VOICE_BY_PROGRAM: dict[int, str] = {program: voice for voice, program in PROGRAMS.items()}


@dataclass
class VoiceNotes:
    """Notes per voice of one song plus what was dropped or flagged on the way, by reason.

    ``dropped_track_names`` lists ``(track name, program, reason)`` of each dropped track so
    that the report can say *which* instrument was not understood.
    """

    ticks_per_beat: int
    notes: dict[str, np.ndarray]
    dropped_tracks: Counter = field(default_factory=Counter)
    dropped_notes: Counter = field(default_factory=Counter)
    flagged: Counter = field(default_factory=Counter)
    dropped_track_names: list[tuple[str, int | None, str]] = field(default_factory=list)


def voice_of_track(name: str, program: int | None) -> tuple[str | None, bool]:
    """The voice a track plays and whether it was found by program (name not understood)."""
    key = name.strip().lower()
    if key in PROGRAMS:
        return key, False
    voice = VOICE_BY_PROGRAM.get(program) if program is not None else None
    return voice, voice is not None


def clean_notes(notes: np.ndarray, dropped: Counter) -> np.ndarray:
    """Drop the notes no NES voice can play, counting each by its first failing reason."""
    checks = (
        ("non_positive_length", notes[:, 1] <= notes[:, 0]),
        ("pitch_out_of_range", (notes[:, 2] < 1) | (notes[:, 2] > 127)),
        ("velocity_out_of_range", (notes[:, 3] < 1) | (notes[:, 3] > 127)),
    )
    bad_any = np.zeros(len(notes), dtype=bool)
    for reason, bad in checks:
        new = bad & ~bad_any
        if new.any():
            dropped[reason] += int(new.sum())
        bad_any |= bad
    return notes[~bad_any] if bad_any.any() else notes


def count_overlaps(notes: np.ndarray) -> int:
    """Notes starting before the previous note (in start order) has ended."""
    if len(notes) < 2:
        return 0
    order = notes[np.argsort(notes[:, 0], kind="stable")]
    return int((order[1:, 0] < order[:-1, 1]).sum())


def assign_voices(song: Song) -> VoiceNotes:
    """Map tracks to voices: by name, else by program number, else drop the track.

    A second track claiming an already-filled voice is dropped (``duplicate_voice``) rather
    than merged, because merging two melodic lines into one monophonic voice invents
    overlaps the NES could not play. Notes that cannot be played are dropped and counted;
    NES-MDB has none, so any found point at a broken converter.
    """
    out = VoiceNotes(ticks_per_beat=song.ticks_per_beat, notes={})
    for track in song.tracks:
        if len(track.notes) == 0:
            continue
        voice, by_program = voice_of_track(track.name, track.program)
        if voice is None:
            out.dropped_tracks["unknown_instrument"] += 1
            out.dropped_track_names.append((track.name, track.program, "unknown_instrument"))
            continue
        if voice in out.notes:
            out.dropped_tracks["duplicate_voice"] += 1
            out.dropped_track_names.append((track.name, track.program, "duplicate_voice"))
            continue
        if by_program:
            out.flagged["tracks_mapped_by_program"] += 1
        notes = clean_notes(np.asarray(track.notes, dtype=np.int64).reshape(-1, 4), out.dropped_notes)
        if len(notes):
            overlaps = count_overlaps(notes)
            if overlaps:
                out.flagged["notes_overlapping"] += overlaps
            out.notes[voice] = notes
    return out
