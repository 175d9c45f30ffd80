"""The four NES voices and how a MIDI track is assigned to one of them."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from neshmm.midi_io import Song

VOICES: tuple[str, ...] = ("p1", "p2", "tr", "no")
PROGRAMS: dict[str, int] = {"p1": 80, "p2": 81, "tr": 38, "no": 121}
VOICE_BY_PROGRAM: dict[int, str] = {program: voice for voice, program in PROGRAMS.items()}


@dataclass
class VoiceNotes:
    """Notes per voice of one song plus what was dropped on the way, by reason."""

    ticks_per_beat: int
    notes: dict[str, np.ndarray]
    dropped_tracks: Counter = field(default_factory=Counter)
    dropped_notes: Counter = field(default_factory=Counter)


def assign_voices(song: Song) -> VoiceNotes:
    """Map tracks to voices: by name, else by program number, else drop the track.

    A second track claiming an already-filled voice is dropped (``duplicate_voice``) rather
    than merged, because merging two melodic lines into one monophonic voice invents
    overlaps the NES could not play. Notes with non-positive length are dropped and
    counted; NES-MDB has none, so any found point at a broken converter.
    """
    out = VoiceNotes(ticks_per_beat=song.ticks_per_beat, notes={})
    for track in song.tracks:
        if len(track.notes) == 0:
            continue
        voice = track.name if track.name in PROGRAMS else VOICE_BY_PROGRAM.get(track.program)
        if voice is None:
            out.dropped_tracks["unknown_instrument"] += 1
            continue
        if voice in out.notes:
            out.dropped_tracks["duplicate_voice"] += 1
            continue
        notes = track.notes
        bad = notes[:, 1] <= notes[:, 0]
        if bad.any():
            out.dropped_notes["non_positive_length"] += int(bad.sum())
            notes = notes[~bad]
        if len(notes):
            out.notes[voice] = notes
    return out
