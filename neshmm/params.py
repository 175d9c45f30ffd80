"""Compose ``conf/`` into ``params.yaml`` exactly as ``dvc exp run`` does, and check it.

``conf/`` is the source of truth; ``params.yaml`` is what plain ``dvc repro`` reads. Using
DVC's own ``compose_and_dump`` guarantees the file this writes is byte-for-byte what DVC
would write, so a committed params.yaml never drifts from conf/ unnoticed.

    python -m neshmm.params            # rewrite params.yaml from conf/
    python -m neshmm.params --check    # exit 1 if params.yaml differs from conf/
    python -m neshmm.params model.n_components=8   # with Hydra overrides
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from neshmm.config import to_config
from neshmm.errors import NeshmmError

CONF_DIR = "conf"
CONFIG_NAME = "config"


def compose_to(path: Path, overrides: list[str], root: Path = Path(".")) -> None:
    from dvc.utils.hydra import compose_and_dump

    compose_and_dump(
        path,
        str((root / CONF_DIR).resolve()),
        None,
        CONFIG_NAME,
        str(root.resolve()),
        overrides,
    )


def composed_text(overrides: list[str], root: Path = Path(".")) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "params.yaml"
        compose_to(out, overrides, root)
        return out.read_text(encoding="utf-8")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="compose conf/ into params.yaml")
    p.add_argument("overrides", nargs="*")
    p.add_argument("--check", action="store_true", help="only compare, exit 1 on difference")
    p.add_argument("--out", default="params.yaml")
    args = p.parse_args(argv)
    try:
        text = composed_text(args.overrides)
    except Exception as exc:  # Hydra's errors name the bad override or missing option
        print(f"error: composing conf/: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2
    try:
        from omegaconf import OmegaConf

        to_config(OmegaConf.create(text))
    except NeshmmError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out)
    if args.check:
        if not out.exists() or out.read_text(encoding="utf-8") != text:
            print(f"{out} differs from what conf/ composes to; run `python -m neshmm.params`", file=sys.stderr)
            return 1
        print(f"{out} matches conf/")
        return 0
    from neshmm import atomic

    atomic.write_text(out, text)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
