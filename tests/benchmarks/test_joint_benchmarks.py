"""benchmarks/frame_grid.py and benchmarks/joint_fit.py run and print their columns
(on a tiny demo corpus; the real numbers come from running them on NES-MDB)."""

from pathlib import Path

from benchmarks import frame_grid, joint_fit
from neshmm.data.corpus import build_split, parse_folder
from neshmm.data.demo_corpus import generate_corpus


def prepared(tmp_path: Path) -> list[str]:
    generate_corpus(tmp_path / "demo", seed=0, n_train=8, n_valid=3, n_test=1)
    out = []
    for s in ("train", "valid"):
        build_split(parse_folder(tmp_path / "demo" / s, 1)).save(tmp_path / f"{s}.npz")
        out += [f"--{s}", str(tmp_path / f"{s}.npz")]
    return out


def test_frame_grid_and_joint_fit_print_their_tables(tmp_path, capsys):
    args = prepared(tmp_path)
    frame_grid.main([*args, "--grids", "1/4,1/8", "--jobs", "1"])
    out = capsys.readouterr().out
    assert "| frame | notes lost % | short % |" in out and "| 1/4 |" in out and "| 1/8 |" in out
    joint_fit.main([*args, "--k", "2", "--n-iter", "2", "--per-voice", "--jobs", "1"])
    out = capsys.readouterr().out
    assert "joint K=2: fit" in out and "per beat" in out and "per-voice HMMs K=2" in out
