"""Benchmark: parsing NES-MDB's MIDI files, our reader now (symusic) against the old one.

    python -m benchmarks.midi_parse                    # train split, new vs old (from git) vs miditoolkit
    python -m benchmarks.midi_parse --files 500 --no-miditoolkit
    python -m benchmarks.midi_parse --notes 7000000    # peak memory of one file with that many notes

Each reader runs in its own child process on one core (no joblib), parsing every file one
after another; the table gives wall and CPU seconds and the child's peak resident memory
(``ru_maxrss``, which includes the ~100 MB of imports). The old pure-Python reader is not
kept in the project: it is taken from git (``--old-rev``, default the last commit before
symusic) into a temporary file outside the tree. Corpus: ``$NESMDB_DIR/train`` or
``../shared/nesmdb_midi/train``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks._measure import ROOT

OLD_REV = "68d7149"  # the last commit with the pure-Python reader

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
kind, listing, extra = sys.argv[1], sys.argv[2], sys.argv[3]
files = Path(listing).read_text().splitlines()
if kind == "old":
    sys.path.insert(0, extra)
    from old_midi_io import read_midi
    parse = read_midi
elif kind == "miditoolkit":
    import miditoolkit
    parse = miditoolkit.MidiFile
else:
    from neshmm.data.midi_io import read_midi
    parse = (lambda p: read_midi(p, max_bytes=int(extra))) if extra else read_midi
t0, c0 = time.perf_counter(), time.process_time()
notes = 0
for f in files:
    song = parse(f)
    notes += sum(len(t.notes) for t in getattr(song, "tracks", getattr(song, "instruments", [])))
print(json.dumps({"wall": time.perf_counter() - t0, "cpu": time.process_time() - c0, "notes": notes,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run(kind: str, files: list[str], extra: str = "") -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write("\n".join(files))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cmd = ["taskset", "-c", "0"] if os.path.exists("/usr/bin/taskset") else []
    out = subprocess.run(cmd + [sys.executable, "-c", CHILD, kind, f.name, extra], env=env, cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    os.unlink(f.name)
    return json.loads(out)


def old_reader(rev: str, folder: Path) -> str:
    src = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:neshmm/data/midi_io.py"],
                         capture_output=True, text=True, check=True).stdout
    (folder / "old_midi_io.py").write_text(src)
    return str(folder)


def pileup_file(path: Path, n_notes: int) -> None:
    """One track of n_notes short notes cycling over 12 pitches (a valid-split-like stress file)."""
    body = bytearray(b"\x00\xff\x03\x02p1\x00\xc0\x50")
    for i in range(n_notes):
        pitch = 48 + i % 12
        body += bytes([1, 0x90, pitch, 9, 1, 0x80, pitch, 0])
    body += b"\x00\xff\x2f\x00"
    path.write_bytes(b"MThd\x00\x00\x00\x06\x00\x00\x00\x01\x00\x60MTrk" + len(body).to_bytes(4, "big") + body)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--files", type=int, default=0, help="first N train files (0: all)")
    ap.add_argument("--old-rev", default=OLD_REV)
    ap.add_argument("--no-old", action="store_true")
    ap.add_argument("--no-miditoolkit", action="store_true")
    ap.add_argument("--notes", type=int, default=0, help="also parse one synthetic file with this many notes")
    args = ap.parse_args(argv)
    train = Path(os.environ.get("NESMDB_DIR", ROOT.parent / "shared" / "nesmdb_midi")) / "train"
    files = sorted(str(p) for p in train.glob("*.mid"))
    if args.files:
        files = files[: args.files]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        if files:
            rows.append(("new (symusic)", len(files), run("new", files)))
            if not args.no_old:
                rows.append((f"old (git {args.old_rev})", len(files), run("old", files, old_reader(args.old_rev, Path(tmp)))))
            if not args.no_miditoolkit:
                rows.append(("miditoolkit", len(files), run("miditoolkit", files)))
        else:
            print(f"no MIDI files in {train}; set NESMDB_DIR", file=sys.stderr)
        if args.notes:
            big = Path(tmp) / "big.mid"
            pileup_file(big, args.notes)
            size = big.stat().st_size
            rows.append((f"new, 1 file {size / 2**20:.0f} MB", 1, run("new", [str(big)], str(size))))
    print(f"{'reader':<28} {'files':>6} {'notes':>10} {'wall s':>8} {'cpu s':>8} {'peak MB':>8}")
    for name, n, r in rows:
        print(f"{name:<28} {n:>6} {r['notes']:>10} {r['wall']:>8.2f} {r['cpu']:>8.2f} {r['peak_mb']:>8.0f}")


if __name__ == "__main__":
    main()
