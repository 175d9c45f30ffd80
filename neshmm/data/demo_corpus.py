"""The bundled demo corpus: NES-MDB style MIDI songs composed from a seed.

The pipeline has to run, and be tested, without the third-party NES-MDB files, so the
project writes its own small corpus. The songs are not meant to sound good; they are meant
to carry structure an HMM can find (one key and scale per song, a handful of note lengths,
phrases that come back in AABA-like forms, a melody over a root/fifth bass and a drum
pattern that repeats every bar) while looking to every stage exactly like NES-MDB: the same
tracks, programs, channels, tick rate, velocity and control-change conventions, silent
voices as empty tracks, and note boundaries a few ticks off the beat grid now and then.
(One byte-level difference remains: our writer (symusic) writes note-off messages where NES-MDB's
pretty_midi wrote note-on with velocity 0; MIDI readers treat the two alike.)

Each song draws from its own generator seeded by ``(seed, split, index)``, so a song does
not change when another split's size does, and one seed always gives the same bytes.
"""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from neshmm import atomic
from neshmm.data.midi_io import write_midi
from neshmm.data.voices import PROGRAMS, VOICES

TICKS_PER_BEAT = 22050  # NES-MDB: one tick per 44.1 kHz sample at 120 bpm
BEATS_PER_BAR = 4
FRAME_TICKS = 735  # one 60 Hz NES frame; NES-MDB volume envelopes step on this grid
SPLITS = ("train", "valid", "test")

# Pitch ranges of the melodic voices; the noise "pitch" is a period index 1..16 instead.
RANGES = {"p1": (60, 84), "p2": (55, 79), "tr": (36, 60)}
SCALES = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "harmonic_minor": (0, 2, 3, 5, 7, 8, 11),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
}
# Chord roots as scale degrees, one per bar; vii (diminished in major) is left out.
PROGRESSIONS = (
    (0, 3, 4, 0),
    (0, 5, 3, 4),
    (0, 4, 5, 3),
    (5, 3, 0, 4),
    (0, 0, 3, 4),
    (0, 3, 0, 4),
    (0, 2, 3, 4),
    (0, 5, 1, 4),
)
# Tempo feels: weights of note lengths in beats. Only 0.25..2 and 4 beats occur, so
# lengths land on the tokenizer's duration bins (4 only as a whole-bar note).
FEELS = {
    "fast": {0.25: 3.0, 0.5: 5.0, 0.75: 1.0, 1.0: 1.0},
    "medium": {0.25: 1.0, 0.5: 4.0, 0.75: 1.0, 1.0: 3.0, 2.0: 1.0},
    "slow": {0.5: 2.0, 1.0: 4.0, 2.0: 2.0, 4.0: 0.5},
}
FORMS = ("AABA", "AABA", "ABAB", "AABB", "ABAC", "AAB")
# Chance that a song leaves a voice silent (NES-MDB has many such songs; p1 never here).
SILENT_PROBABILITY = {"p2": 0.06, "tr": 0.04, "no": 0.12}
# Bass patterns per bar: (onset beat, length in beats, degree offset from the chord root).
BASS_PATTERNS = {
    "whole": ((0, 4, 0),),
    "half": ((0, 2, 0), (2, 2, 4)),
    "root_fifth": ((0, 1, 0), (1, 1, 4), (2, 1, 0), (3, 1, 4)),
    "octave": tuple((i * 0.5, 0.5, 7 * (i % 2)) for i in range(8)),
    "drive": tuple((i * 0.5, 0.5, 0) for i in range(8)),
    "walk": ((0, 1, 0), (1, 1, 2), (2, 1, 4), (3, 1, 5)),
    "skip": ((0, 0.75, 0), (0.75, 0.25, 0), (1, 1, 4), (2, 0.75, 0), (2.75, 0.25, 0), (3, 1, 7)),
}
# Drum patterns on a 16-step (sixteenth-note) bar: steps of kick, snare and hi-hat.
DRUM_PATTERNS = {
    "rock": ((0, 8), (4, 12), (2, 6, 10, 14)),
    "four": ((0, 4, 8, 12), (), (2, 6, 10, 14)),
    "march": ((0, 6, 8), (4, 12, 14), (2, 10)),
    "sparse": ((0,), (8,), (4, 12)),
    "busy": ((0, 8, 10), (4, 12), (2, 3, 6, 7, 11, 14, 15)),
    "halftime": ((0, 3), (8,), (2, 4, 6, 10, 12, 14)),
}
P2_STYLES = ("arp", "arp", "pad", "offbeat", "thirds", "echo")


@dataclass
class _Composition:
    """One composed song: notes per voice plus what its file needs beyond notes."""

    notes: dict[str, np.ndarray]
    control_changes: dict[str, list[tuple[int, int, int]]]
    end_tick: int


@dataclass
class _Style:
    """Everything drawn once per song, so repeats of a phrase stay recognisable."""

    tonic: int
    scale: tuple[int, ...]
    feel: dict[float, float]
    form: str
    phrase_bars: int
    repeats: int
    progressions: dict[str, tuple[int, ...]]
    silent: frozenset[str]
    lead_in: int
    jitter_probability: float
    rest_probability: float
    detached: dict[str, bool]
    p1_velocity: int
    p2_velocity: int
    p2_style: str
    p2_step: float
    p2_pattern: tuple[int, ...]
    echo_delay: float
    bass: dict[str, str]
    drums: str
    drum_fills: bool
    drum_velocity: int
    periods: tuple[int, int, int]
    motifs: list[tuple[list[float], list[int]]] = field(default_factory=list)


def _choice(rng: np.random.Generator, options):
    return options[int(rng.integers(len(options)))]


def _draw_style(rng: np.random.Generator, n_bars: int | None) -> _Style:
    feel = FEELS[_choice(rng, tuple(FEELS))]
    form = _choice(rng, FORMS)
    phrase_bars = int(_choice(rng, (2, 4, 4, 4, 8)))
    section = len(form) * phrase_bars
    target = int(rng.integers(16, 61)) if n_bars is None else n_bars
    # Whole sections only, and 16..64 bars counting the closing bar.
    repeats = max(math.ceil(15 / section), min(round(target / section), 63 // section))
    progressions = {}
    for letter in sorted(set(form)):
        progressions[letter] = _choice(rng, PROGRESSIONS)
    silent = frozenset(v for v, p in SILENT_PROBABILITY.items() if rng.random() < p)
    style = _Style(
        tonic=int(rng.integers(12)),
        scale=SCALES[_choice(rng, tuple(SCALES))],
        feel=feel,
        form=form,
        phrase_bars=phrase_bars,
        repeats=repeats,
        progressions=progressions,
        silent=silent,
        lead_in=int(rng.integers(1, 600)) if rng.random() < 0.5 else 0,
        jitter_probability=float(_choice(rng, (0.0, 0.0, 0.1, 0.3))),
        rest_probability=float(rng.uniform(0.03, 0.15)),
        detached={v: bool(rng.random() < 0.3) for v in ("p1", "p2", "tr")},
        p1_velocity=int(rng.integers(11, 16)),
        p2_velocity=int(rng.integers(8, 13)),
        p2_style=_choice(rng, P2_STYLES),
        p2_step=0.25 if (feel is FEELS["fast"] and rng.random() < 0.5) else 0.5,
        p2_pattern=_choice(rng, ((0, 2, 4, 7), (0, 2, 4, 2), (0, 4, 7, 4), (7, 4, 2, 0))),
        echo_delay=float(_choice(rng, (0.25, 0.5))),
        bass={
            "A": _choice(rng, tuple(BASS_PATTERNS)),
            "B": _choice(rng, tuple(BASS_PATTERNS)),
        },
        drums=_choice(rng, tuple(DRUM_PATTERNS)),
        drum_fills=bool(rng.random() < 0.5),
        drum_velocity=int(rng.integers(-3, 2)),
        periods=(
            int(rng.integers(1, 5)),
            int(_choice(rng, (6, 8, 9, 10, 11))),
            int(rng.integers(12, 17)),
        ),
    )
    style.motifs = [_motif(rng, feel) for _ in range(int(rng.integers(3, 6)))]
    return style


def _bar_rhythm(
    rng: np.random.Generator, feel: dict[float, float], cadence: bool
) -> list[float]:
    """Note lengths filling one bar; dotted 0.75 is always paired with 0.25 to stay on beat."""
    out: list[float] = []
    t = 0.0
    stop = 2.0 if cadence else 4.0  # a cadence bar ends on one long note
    while t < stop:
        room = stop - t
        options = [
            d
            for d in feel
            if d <= room
            and not (d == 2.0 and t % 2)
            and not (d == 4.0 and t)
            and not (d == 0.75 and room < 1.0)
            and not (d == 0.25 and room < 0.5)
        ]
        weights = np.array([feel[d] for d in options])
        d = options[int(rng.choice(len(options), p=weights / weights.sum()))]
        if d == 0.75:
            out += [0.75, 0.25]
            t += 1.0
        elif d == 0.25:
            out += [0.25, 0.25]
            t += 0.5
        else:
            out.append(d)
            t += d
    if cadence:
        out.append(2.0)
    return out


def _motif(
    rng: np.random.Generator, feel: dict[float, float]
) -> tuple[list[float], list[int]]:
    """A bar rhythm and a melodic contour (scale steps from the bar's first note)."""
    rhythm = _bar_rhythm(rng, feel, cadence=False)
    steps = rng.choice(
        [-3, -2, -1, 0, 1, 2, 3], size=len(rhythm), p=[0.05, 0.15, 0.25, 0.1, 0.25, 0.15, 0.05]
    )
    steps[0] = 0
    return rhythm, np.cumsum(steps).tolist()


def _pitch(style: _Style, degree: int) -> int:
    return style.tonic + 12 * (degree // 7) + style.scale[degree % 7]


def _degree_range(style: _Style, voice: str) -> tuple[int, int]:
    lo, hi = RANGES[voice]
    degrees = [d for d in range(0, 80) if lo <= _pitch(style, d) <= hi]
    return degrees[0], degrees[-1]


def _chord_tone(target: int, root: int, lo: int, hi: int, tones=(0, 2, 4)) -> int:
    """The chord tone in [lo, hi] nearest to ``target``, so lines move by small steps."""
    candidates = [d for d in range(lo, hi + 1) if (d - root) % 7 in tones]
    return min(candidates, key=lambda d: (abs(d - target), d))


def _fold(degree: int, lo: int, hi: int) -> int:
    while degree > hi:
        degree -= 7
    while degree < lo:
        degree += 7
    return degree


Event = tuple[float, float, int, int]  # onset beat, length in beats, degree or period, velocity


def _melody_phrase(
    rng: np.random.Generator, style: _Style, letter: str, start_degree: int
) -> tuple[list[Event], int]:
    """One phrase of p1: bar motifs (rhythm + contour) re-anchored on each bar's chord.

    Reusing a motif on other chords gives sequences, and the last bar cadences on the
    chord root, so the melody has both repetition and a predictable goal.
    """
    lo, hi = _degree_range(style, "p1")
    prog = style.progressions[letter]
    n = style.phrase_bars
    main = int(rng.integers(len(style.motifs)))
    plan = [main if b % 2 == 0 else int(rng.integers(len(style.motifs))) for b in range(n)]
    events: list[Event] = []
    degree = start_degree
    for bar in range(n):
        root = prog[bar % len(prog)]
        cadence = bar == n - 1
        if cadence:
            rhythm = _bar_rhythm(rng, style.feel, cadence=True)
            direction = 1 if rng.random() < 0.5 else -1
            contour = [direction * i for i in range(len(rhythm))]
        else:
            rhythm, contour = style.motifs[plan[bar]]
        first = _chord_tone(degree, root, lo, hi)
        t = float(bar * BEATS_PER_BAR)
        for i, (length, step) in enumerate(zip(rhythm, contour)):
            if cadence and i == len(rhythm) - 1:
                degree = _chord_tone(degree, root, lo, hi, tones=(0,))
            else:
                degree = _fold(first + step, lo, hi)
            rest = i > 0 and not (cadence and i == len(rhythm) - 1)
            if rest and rng.random() < style.rest_probability:
                t += length
                continue
            velocity = style.p1_velocity - (t % 1 != 0) - (letter != "A")
            events.append((t, length, degree, int(np.clip(velocity, 8, 15))))
            t += length
    return events, degree


def _harmony_phrase(style: _Style, letter: str, melody: list[Event]) -> list[Event]:
    """One phrase of p2 in the song's accompaniment style (the usual NES pulse-2 roles).

    Arpeggios, pads and off-beat stabs follow the chords; thirds and echo follow the
    melody, so p2 is predictable from the harmony in some songs and from p1 in others.
    """
    lo, hi = _degree_range(style, "p2")
    prog = style.progressions[letter]
    n = style.phrase_bars
    base_velocity = style.p2_velocity - (letter != "A")
    events: list[Event] = []
    if style.p2_style in ("thirds", "echo"):
        end = float(n * BEATS_PER_BAR)
        for onset, length, degree, _ in melody:
            if style.p2_style == "thirds":
                d, v = degree - 2, base_velocity
            else:
                onset, d, v = onset + style.echo_delay, degree, base_velocity - 2
                length = min(length, end - onset)
                if length <= 0:
                    continue
            events.append((onset, length, _fold(d, lo, hi), int(np.clip(v, 6, 15))))
        return events
    center = (lo + hi) // 2
    previous = center
    for bar in range(n):
        root = prog[bar % len(prog)]
        t0 = float(bar * BEATS_PER_BAR)
        if style.p2_style == "arp":
            base = _chord_tone(center - 2, root, lo, hi, tones=(0,))
            steps = int(BEATS_PER_BAR / style.p2_step)
            for i in range(steps):
                d = _fold(base + style.p2_pattern[i % len(style.p2_pattern)], lo, hi)
                v = base_velocity - (i % len(style.p2_pattern) != 0)
                events.append((t0 + i * style.p2_step, style.p2_step, d, int(np.clip(v, 6, 15))))
        elif style.p2_style == "pad":
            for half in (0, 2):
                previous = _chord_tone(previous, root, lo, hi)
                v = int(np.clip(base_velocity - half // 2, 6, 15))
                events.append((t0 + half, 2.0, previous, v))
        else:  # offbeat stabs, the rests on the beats are part of the pattern
            for beat in range(BEATS_PER_BAR):
                previous = _chord_tone(previous + (1 if beat % 2 else -1), root, lo, hi)
                v = int(np.clip(base_velocity, 6, 15))
                events.append((t0 + beat + 0.5, 0.5, previous, v))
    return events


def _bass_phrase(style: _Style, letter: str) -> list[Event]:
    """One phrase of tr: a fixed per-bar pattern on each chord root, root/fifth based.

    The phrase's last bar falls back to two half notes so phrase ends are audible in the
    bass too. Velocity is always 1: NES-MDB's triangle has no volume control.
    """
    lo, hi = _degree_range(style, "tr")
    prog = style.progressions[letter]
    pattern = BASS_PATTERNS[style.bass["A" if letter == "A" else "B"]]
    events: list[Event] = []
    for bar in range(style.phrase_bars):
        root_degree = prog[bar % len(prog)]
        root = _chord_tone(lo + 3, root_degree, lo, hi, tones=(0,))
        bar_pattern = BASS_PATTERNS["half"] if bar == style.phrase_bars - 1 and bar else pattern
        for onset, length, offset in bar_pattern:
            d = _fold(root + offset, lo, hi)
            events.append((bar * BEATS_PER_BAR + onset, float(length), d, 1))
    return events


def _drum_phrase(style: _Style) -> list[Event]:
    """One phrase of noise: the same bar of kick/snare/hat hits, with an optional fill.

    One hit per sixteenth step (kick over snare over hat) keeps the voice monophonic,
    and each drum keeps one noise period for the whole song, as NES drivers do.
    """
    kick, snare, hat = DRUM_PATTERNS[style.drums]
    p_kick, p_snare, p_hat = style.periods
    events: list[Event] = []
    for bar in range(style.phrase_bars):
        hits: dict[int, tuple[int, int]] = {}
        for step in hat:
            hits[step] = (p_hat, 6 + (step % 4 == 0) * 2)
        for step in snare:
            hits[step] = (p_snare, 12)
        for step in kick:
            hits[step] = (p_kick, 14)
        if style.drum_fills and bar == style.phrase_bars - 1:
            for step in (12, 13, 14, 15):
                hits[step] = (p_snare, 9 + (step - 12))
        steps = sorted(hits)
        for i, step in enumerate(steps):
            period, velocity = hits[step]
            following = steps[i + 1] if i + 1 < len(steps) else 16
            length = 0.5 if (period != p_hat and following - step >= 2) else 0.25
            velocity = int(np.clip(velocity + style.drum_velocity, 1, 15))
            events.append((bar * BEATS_PER_BAR + step * 0.25, length, period, velocity))
    return events


def _detach(events: list[Event]) -> list[Event]:
    """Shorten half- and one-beat notes by a sixteenth, so note and rest stay on the grid.

    Longer notes are held: 2 - 0.25 beats would fall between the tokenizer's bins.
    """
    return [(t, d - 0.25 if 0.5 <= d <= 1.0 else d, x, v) for t, d, x, v in events]


def _render(
    rng: np.random.Generator, style: _Style, events: list[Event], voice: str
) -> np.ndarray:
    """Events in beats -> (n, 4) ticks, with NES-MDB's few-tick boundary jitter.

    Jitter moves each distinct boundary tick, not each note, so a note that ends where the
    next starts still does: voices stay monophonic and legato lines keep no gap.
    """
    if not events:
        return np.zeros((0, 4), dtype=np.int64)
    arr = np.array(events, dtype=np.float64)
    value = arr[:, 2].astype(np.int64)
    if voice != "no":
        value = np.array([_pitch(style, int(d)) for d in value], dtype=np.int64)
    start = style.lead_in + np.rint(arr[:, 0] * TICKS_PER_BEAT).astype(np.int64)
    end = style.lead_in + np.rint((arr[:, 0] + arr[:, 1]) * TICKS_PER_BEAT).astype(np.int64)
    if style.jitter_probability:
        bounds = np.unique(np.concatenate([start, end]))
        shift = rng.integers(-4, 5, size=len(bounds))
        shift[rng.random(len(bounds)) >= style.jitter_probability] = 0
        moved = np.maximum(bounds + shift, 0)
        start = moved[np.searchsorted(bounds, start)]
        end = moved[np.searchsorted(bounds, end)]
    notes = np.stack([start, end, value, arr[:, 3].astype(np.int64)], axis=1)
    notes = notes[np.argsort(notes[:, 0], kind="stable")]
    notes[:-1, 1] = np.minimum(notes[:-1, 1], notes[1:, 0])
    return notes[notes[:, 1] > notes[:, 0]]


def _control_changes(
    rng: np.random.Generator,
    style: _Style,
    notes: dict[str, np.ndarray],
    sections: list[tuple[int, str]],
) -> dict[str, list[tuple[int, int, int]]]:
    """CC 12 duty per section and CC 11 volume decays inside notes, as NES-MDB encodes them.

    The velocity is a note's initial volume; the decay steps every few 60 Hz frames and
    stays strictly inside the note, so a CC never outlives the song or leaks into a rest.
    """
    out: dict[str, list[tuple[int, int, int]]] = {}
    for voice in ("p1", "p2", "no"):
        arr = notes[voice]
        if len(arr) == 0:
            continue
        events: list[tuple[int, int, int]] = []
        if voice != "no":
            duty = int(rng.integers(4))
            other = int(rng.integers(4)) if rng.random() < 0.4 else duty
            current = None
            for tick, letter in sections:
                value = duty if letter == "A" else other
                if value != current:
                    events.append((tick, 12, value))
                    current = value
            depth = int(_choice(rng, (0, 1, 2, 3)))
            step = FRAME_TICKS * int(_choice(rng, (4, 6, 8)))
        else:
            depth, step = int(_choice(rng, (0, 1, 2))), FRAME_TICKS * 2
            hat = style.periods[2]
            arr = arr[arr[:, 2] != hat]  # hi-hats are too short to decay audibly
        if depth:
            for s, e, _, v in arr.tolist():
                for k in range(1, depth + 1):
                    t = s + k * step
                    if t >= e or v - k < 1:
                        break
                    events.append((t, 11, v - k))
        out[voice] = events
    return out


def _compose(rng: np.random.Generator, n_bars: int | None = None) -> _Composition:
    style = _draw_style(rng, n_bars)
    phrases: dict[str, dict[str, list[Event]]] = {}
    degree = sum(_degree_range(style, "p1")) // 2
    for letter in sorted(set(style.form)):
        melody, degree = _melody_phrase(rng, style, letter, degree)
        phrases[letter] = {
            "p1": melody,
            "p2": _harmony_phrase(style, letter, melody),
            "tr": _bass_phrase(style, letter),
            "no": _drum_phrase(style),
        }
    per_voice: dict[str, list[Event]] = {v: [] for v in VOICES}
    sections: list[tuple[int, str]] = []
    phrase_beats = style.phrase_bars * BEATS_PER_BAR
    letters = style.form * style.repeats
    for k, letter in enumerate(letters):
        offset = k * phrase_beats
        sections.append((0 if k == 0 else style.lead_in + offset * TICKS_PER_BEAT, letter))
        for voice in VOICES:
            per_voice[voice] += [(t + offset, d, x, v) for t, d, x, v in phrases[letter][voice]]
    # A final bar on the tonic chord, so every song ends resolved rather than mid-phrase.
    final = float(len(letters) * phrase_beats)
    lo, hi = _degree_range(style, "p1")
    per_voice["p1"].append((final, 4.0, _chord_tone(degree, 0, lo, hi, (0,)), style.p1_velocity))
    lo, hi = _degree_range(style, "p2")
    third_or_fifth = _chord_tone((lo + hi) // 2, 0, lo, hi, (2, 4))
    per_voice["p2"].append((final, 4.0, third_or_fifth, style.p2_velocity))
    lo, hi = _degree_range(style, "tr")
    per_voice["tr"].append((final, 4.0, _chord_tone(lo + 3, 0, lo, hi, (0,)), 1))
    per_voice["no"].append((final, 0.5, style.periods[0], 14))
    notes: dict[str, np.ndarray] = {}
    for voice in VOICES:
        events = per_voice[voice]
        if voice in style.silent:
            events = []
        elif style.detached.get(voice):
            events = _detach(events)
        notes[voice] = _render(rng, style, events, voice)
    end_tick = max(int(a[:, 1].max()) for a in notes.values() if len(a))
    control_changes = _control_changes(rng, style, notes, sections)
    return _Composition(notes=notes, control_changes=control_changes, end_tick=end_tick)


def generate_song(rng: np.random.Generator, n_bars: int | None = None) -> dict[str, np.ndarray]:
    """Notes of one demo song: voice -> ``(n, 4)`` int64 (start, end, pitch, velocity) ticks.

    All four voices are keys; a silent voice has zero rows. ``n_bars`` is a target length,
    rounded to whole repeats of the song's form (plus one closing bar) and kept within
    16..64 bars; by default it is drawn. The same generator state gives the same notes as
    the corpus file written from it, so a test can compare the two.
    """
    return _compose(rng, n_bars).notes


def _song_name(index: int) -> str:
    return f"{index:03d}_Demo_Song{index:02d}.mid"


def generate_corpus(
    out_dir: str | Path,
    seed: int = 0,
    n_train: int = 96,
    n_valid: int = 24,
    n_test: int = 24,
) -> dict[str, list[Path]]:
    """Write ``out_dir/{train,valid,test}/NNN_Demo_SongNN.mid`` and return the paths per split.

    Files are numbered across the splits, as NES-MDB numbers games, so a name is unique in
    the corpus. Everything is written into a scratch folder inside ``out_dir`` first and
    then swapped in split by split, so an interrupted run leaves the previous corpus
    intact and no stale file from an earlier, larger corpus survives a finished one.
    """
    counts = {"train": n_train, "valid": n_valid, "test": n_test}
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    for split, n in counts.items():
        if not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(f"n_{split} must be a non-negative integer, got {n!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # *.tmp: a scratch folder left by a killed run is git- and DVC-ignored (.gitignore, .dvcignore).
    # A killed run's scratch is removed by the next run (its owner PID is dead).
    scratch = atomic.make_temp_dir(out_dir / "demo-corpus")
    try:
        names: dict[str, list[str]] = {}
        index = 0
        for split_id, split in enumerate(SPLITS):
            (scratch / split).mkdir()
            names[split] = []
            for i in range(counts[split]):
                song = _compose(np.random.default_rng([int(seed), split_id, i]))
                name = _song_name(index)
                write_midi(
                    scratch / split / name,
                    song.notes,
                    TICKS_PER_BEAT,
                    PROGRAMS,
                    song.end_tick,
                    control_changes=song.control_changes,
                )
                names[split].append(name)
                index += 1
        for split in SPLITS:
            final = out_dir / split
            if final.is_dir() and not final.is_symlink():
                final.rename(scratch / f"old-{split}")
            elif final.exists() or final.is_symlink():
                final.unlink()
            (scratch / split).rename(final)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return {split: [out_dir / split / name for name in names[split]] for split in SPLITS}
