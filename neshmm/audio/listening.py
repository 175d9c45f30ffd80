"""A blind A/B listening test of the rendered clips: ``render/listen.html`` and its key.

The page plays pairs of clips from two different sources (joint vs per-voice model,
model vs real excerpt, ...) and asks which sounds more like NES music. How blind it is:

- the page names no source: clips are copies under ``listen/`` named by an opaque id
  (a hash of the seed and the clip's render key), pairs come in a seeded random order and
  which source plays as A is a seeded coin flip per pair;
- the key (clip id -> source) is a separate file, ``listen_key.json``, which the page never
  loads; the answers CSV records clip ids only, and ``python -m neshmm.listening analyze``
  joins them with the key;
- not hidden: ``index.html`` in the same folder lists the same audio by source (so share
  ``listen.html`` and ``listen/`` alone), and a clip's length can differ when a real song
  is shorter than ``sample.beats``.

Same clips and seed, same page, key and files (no dates, no timings).
"""

from __future__ import annotations

import hashlib
import html
import itertools
import json
import os
import shutil
from pathlib import Path

import numpy as np

from neshmm.config import SYSTEMS

REFERENCE = "reference"
# Sources in the order a pair type is named ("joint vs model" ...), reference last.
SOURCE_ORDER = (*SYSTEMS, "generated", REFERENCE)
CLIP_DIR = "listen"
KEY_FILE = "listen_key.json"
PAGE_FILE = "listen.html"
CSV_COLUMNS = ("test", "listener", "pair", "a", "b", "choice", "position", "answered_at")


def source_of(entry: dict) -> str:
    """The system of a rendered clip (model, baseline, joint) or ``reference`` for real music."""
    if entry["kind"] != "generated":
        return REFERENCE
    return entry.get("role") or "generated"


def clip_id(seed: int, key: str) -> str:
    return hashlib.sha256(f"neshmm-listen:{seed}:{key}".encode()).hexdigest()[:12]


def pair_type(a: str, b: str) -> tuple[str, str]:
    """The two sources of a pair in :data:`SOURCE_ORDER` (the first is the one whose
    preference rate is reported)."""
    return tuple(sorted((a, b), key=SOURCE_ORDER.index))  # type: ignore[return-value]


def design(entries: list[dict], seed: int) -> dict:
    """The test: clips (id -> source and render key) and the ordered pairs.

    Every pair of sources present gets ``max(len(A), len(B))`` pairs: each source's clips
    are shuffled (seeded) and cycled, so every clip is heard at least once per pair type
    and no clip twice more than another. Pairs of all types are then shuffled together
    and each pair's A/B order drawn by a coin flip.
    """
    rng = np.random.default_rng([seed, 0x4C15])  # "LIS"
    by_source: dict[str, list[dict]] = {}
    for e in entries:
        by_source.setdefault(source_of(e), []).append(e)
    sources = [s for s in SOURCE_ORDER if s in by_source]
    clips = {clip_id(seed, e["key"]): {"source": source_of(e), "key": e["key"], "wav": e["wav"]} for e in entries}
    pairs = []
    for s1, s2 in itertools.combinations(sources, 2):
        c1 = [by_source[s1][i] for i in rng.permutation(len(by_source[s1]))]
        c2 = [by_source[s2][i] for i in rng.permutation(len(by_source[s2]))]
        for k in range(max(len(c1), len(c2))):
            x, y = clip_id(seed, c1[k % len(c1)]["key"]), clip_id(seed, c2[k % len(c2)]["key"])
            pairs.append((x, y) if rng.random() < 0.5 else (y, x))
    order = rng.permutation(len(pairs))
    pairs = [{"pair": i, "a": pairs[j][0], "b": pairs[j][1]} for i, j in enumerate(order)]
    test = hashlib.sha256(json.dumps([clips, pairs], sort_keys=True).encode()).hexdigest()[:12]
    return {"test": test, "seed": seed, "clips": clips, "pairs": pairs}


def link_or_copy(src: Path, dst: Path) -> None:
    """A hard link where the file system allows one (no second copy of the audio), else a copy."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def write_test(entries: list[dict], out: Path, seed: int) -> dict | None:
    """``listen.html``, ``listen_key.json`` and the clips under ``listen/`` in ``out`` (the
    render folder being built, where the WAVs already are). None (nothing written) when
    fewer than two sources were rendered: there is nothing to compare."""
    test = design(entries, seed)
    if not test["pairs"]:
        return None
    for cid, clip in test["clips"].items():
        link_or_copy(out / clip["wav"], out / CLIP_DIR / f"{cid}.wav")
    key = {**test, "pair_types": _type_counts(test)}
    (out / KEY_FILE).write_text(json.dumps(key, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    (out / PAGE_FILE).write_text(page(test), encoding="utf-8")
    return key


def _type_counts(test: dict) -> dict[str, int]:
    counts: dict[str, int] = {}
    for p in test["pairs"]:
        a, b = pair_type(test["clips"][p["a"]]["source"], test["clips"][p["b"]]["source"])
        counts[f"{a} vs {b}"] = counts.get(f"{a} vs {b}", 0) + 1
    return counts


STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 760px; color: #222; }
.clip { display: inline-block; width: 47%; margin: 0 1%; text-align: center; vertical-align: top; }
.clip audio { width: 100%; } button { font-size: 1.05em; padding: 0.5em 1em; margin: 0.4em; }
#progress { font-weight: bold; } .muted { color: #777; font-size: 0.9em; } #done { color: #060; }
"""

SCRIPT = r"""
const TEST = JSON.parse(document.getElementById('test-data').textContent);
const STORE = 'neshmm-listen-' + TEST.test;
function load() {
  try { return JSON.parse(localStorage.getItem(STORE)) || {listener: '', answers: {}}; }
  catch (e) { return {listener: '', answers: {}}; }
}
let state = load();
function save() { localStorage.setItem(STORE, JSON.stringify(state)); }
function current() { return TEST.pairs.findIndex(p => !(p.pair in state.answers)); }
function show() {
  const i = current(), n = TEST.pairs.length, done = Object.keys(state.answers).length;
  document.getElementById('listener').value = state.listener;
  document.getElementById('progress').textContent = done + ' of ' + n + ' pairs answered';
  const trial = document.getElementById('trial');
  if (i < 0) {
    trial.hidden = true;
    document.getElementById('done').hidden = false;
    return;
  }
  trial.hidden = false;
  document.getElementById('done').hidden = true;
  const p = TEST.pairs[i];
  document.getElementById('pair-number').textContent = 'Pair ' + (i + 1);
  for (const side of ['a', 'b']) {
    const audio = document.getElementById('audio-' + side);
    audio.pause();
    audio.src = 'listen/' + p[side] + '.wav';
  }
}
function choose(side) {
  const i = current();
  if (i < 0) return;
  const p = TEST.pairs[i];
  state.answers[p.pair] = {a: p.a, b: p.b, choice: p[side], position: side.toUpperCase(),
                           answered_at: new Date().toISOString()};
  save();
  show();
}
function csv() {
  const rows = [['test', 'listener', 'pair', 'a', 'b', 'choice', 'position', 'answered_at']];
  const who = (state.listener || 'anonymous').replace(/[",\r\n]/g, ' ');
  for (const p of TEST.pairs) {
    const r = state.answers[p.pair];
    if (r) rows.push([TEST.test, who, p.pair, r.a, r.b, r.choice, r.position, r.answered_at]);
  }
  return rows.map(r => r.join(',')).join('\n') + '\n';
}
function download() {
  const blob = new Blob([csv()], {type: 'text/csv'});
  const link = document.createElement('a');
  link.href = URL.createObjectURL(blob);
  link.download = 'listen-answers-' + TEST.test + '-' + (state.listener || 'anonymous').replace(/[^A-Za-z0-9_-]/g, '_') + '.csv';
  document.body.appendChild(link);
  link.click();
  link.remove();
}
document.getElementById('choose-a').addEventListener('click', () => choose('a'));
document.getElementById('choose-b').addEventListener('click', () => choose('b'));
document.getElementById('download').addEventListener('click', download);
document.getElementById('listener').addEventListener('change', e => { state.listener = e.target.value; save(); });
document.getElementById('reset').addEventListener('click', () => {
  if (confirm('Forget every answer given in this browser?')) { state = {listener: state.listener, answers: {}}; save(); show(); }
});
show();
"""


def page(test: dict) -> str:
    """The self-contained page: pair list inline (ids only), answers in localStorage, CSV download."""
    data = json.dumps({"test": test["test"], "pairs": test["pairs"]}, sort_keys=True).replace("</", "<\\/")
    n = len(test["pairs"])
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8"><title>neshmm: blind listening test</title>',
        f"<style>{STYLE}</style></head><body>",
        "<h1>Which sounds more like NES music?</h1>",
        f"<p>You will hear {n} pairs of clips, A and B. Listen to both (as much as you need), then pick the one "
        "that sounds more like music from an NES game. Some clips are generated, some are real; the page does "
        "not say which. Answers stay in this browser until you download them.</p>",
        '<p><label>Your name or initials: <input id="listener" autocomplete="off"></label> '
        '<span id="progress"></span></p>',
        '<div id="trial"><h2 id="pair-number"></h2>',
        '<div class="clip"><h3>A</h3><audio id="audio-a" controls preload="none"></audio>'
        '<br><button id="choose-a">A sounds more like NES music</button></div>',
        '<div class="clip"><h3>B</h3><audio id="audio-b" controls preload="none"></audio>'
        '<br><button id="choose-b">B sounds more like NES music</button></div></div>',
        '<p id="done" hidden>All pairs answered. Thank you! Please download your answers and send the file.</p>',
        '<p><button id="download">Download answers (CSV)</button> <button id="reset">Start over</button></p>',
        # Nothing here points at the key (docs/render.md says how to analyse).
        f'<p class="muted">Test {html.escape(test["test"])}</p>',
        f'<script id="test-data" type="application/json">{data}</script>',
        f"<script>{SCRIPT}</script>",
        "</body></html>",
    ]) + "\n"
