"""neshmm.atomic: leftovers of a killed writer are removed by the next writer of the same
target, never the scratch of a writer that is still running."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
from pathlib import Path

from neshmm import atomic


def _killed_midway(path: str, ready) -> None:
    with atomic.atomic_dir(path) as tmp:
        (tmp / "big.bin").write_bytes(b"x" * 100_000)
        ready.set()
        signal.pause()  # SIGKILLed here, like a killed `render`


def _leftover_of_killed_writer(path: Path) -> Path:
    ctx = mp.get_context("fork")
    ready = ctx.Event()
    proc = ctx.Process(target=_killed_midway, args=(str(path), ready))
    proc.start()
    assert ready.wait(30)
    os.kill(proc.pid, signal.SIGKILL)
    proc.join(30)
    (left,) = [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]
    assert str(proc.pid) in left.name and (left / "big.bin").exists()
    return left


def test_next_write_of_the_same_folder_removes_a_killed_writers_scratch(tmp_path):
    out = tmp_path / "render"
    left = _leftover_of_killed_writer(out)
    other = tmp_path / ".render.json.1.abcd.tmp"  # another target's scratch: not ours to remove
    other.write_text("x")
    with atomic.atomic_dir(out) as tmp:
        (tmp / "a").write_text("1")
    assert not left.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".render.json.1.abcd.tmp", "render"]


def test_scratch_of_a_live_writer_is_kept(tmp_path):
    out = tmp_path / "samples"
    alive = atomic.temp_name(out)  # this process (alive) ...
    alive.mkdir()
    parent_pid = os.getppid()  # ... and another live process
    other = out.parent / f".samples.{parent_pid}.00ff.tmp"
    other.mkdir()
    assert atomic.remove_stale(out) == []
    with atomic.atomic_dir(out) as tmp:
        (tmp / "a").write_text("1")
    assert alive.exists() and other.exists()


def test_killed_file_write_is_cleaned_by_the_next_write_of_that_file(tmp_path):
    path = tmp_path / "kl.json"
    dead = tmp_path / ".kl.json.999999999.0a1b.tmp"  # no such PID (above pid_max)
    dead.write_text("half")
    atomic.write_json(path, {"v": 1})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kl.json"]


def test_remove_stale_in_cleans_every_dead_owners_leftover_of_a_folder(tmp_path):
    left = _leftover_of_killed_writer(tmp_path / "render")
    dead_file = tmp_path / ".kl.json.999999999.0a1b.tmp"
    dead_file.write_text("half")
    live = atomic.temp_name(tmp_path / "samples")
    live.mkdir()
    removed = atomic.remove_stale_in(tmp_path)
    assert sorted(removed) == sorted([left, dead_file]) and live.exists()
