"""The corpus walk skips and counts every file it cannot use, whatever kind of file it is."""

from __future__ import annotations

import json
import os

from neshmm.data.corpus import parse_file, parse_folder, split_report

from helpers import conductor, good_song, note_track, smf


def test_special_huge_and_oddly_named_files_are_counted_not_fatal(tmp_path):
    root = tmp_path / "train"
    root.mkdir()
    (root / "a.mid").write_bytes(good_song())
    os.mkfifo(root / "fifo.mid")  # never opened: stat says it is no regular file
    with open(root / "huge.mid", "wb") as f:
        f.truncate(30 * 2**30)  # sparse 30 GB: refused by size before any read
    (root / "loop.mid").symlink_to(root / "loop.mid")
    (root / "dangling.mid").symlink_to(root / "nowhere.mid")
    name = os.fsdecode(b"caf\xe9.mid")  # Latin-1 byte in a name: not UTF-8
    (root / name).write_bytes(good_song(shift=1))
    rep = split_report(parse_folder(root, jobs=1))
    assert rep["files_read"] == 2
    assert rep["files_skipped"] == {"not_a_file": 1, "too_large": 1, "unreadable_file": 2}
    json.dumps(rep)  # the odd name survives into the JSON report (escaped)


def test_size_cap_is_a_parameter(tmp_path):
    path = tmp_path / "x.mid"
    path.write_bytes(smf(conductor(), note_track("p1", 80, [(0, 10, 60, 9)])))
    assert parse_file(path, "x.mid").skipped is None
    r = parse_file(path, "x.mid", max_bytes=10)
    assert r.skipped == "too_large" and "limit" in r.detail
