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
    """The adapter over DVC's internal ``dvc.utils.hydra.compose_and_dump`` (not a public
    API; pyproject.toml caps dvc below 4). Using DVC's own function is what makes
    params.yaml byte-identical to what `dvc exp run -S` writes; guarded by
    tests/e2e/test_pipeline.py (`dvc exp run -S`) and
    tests/e2e/test_pipeline.py::test_params_yaml_equals_conf_composition."""
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


def compose_error_line(exc: Exception, overrides: list[str] = ()) -> str:
    """Hydra's multi-line composition error as one line: the override, the value, what is allowed."""
    from hydra.errors import MissingConfigException, OverrideParseException

    from neshmm.config import allowed_keys

    if getattr(exc, "one_line", False):  # hydra_plugins/neshmm_overrides: already one line
        return str(exc)
    if isinstance(exc, MissingConfigException) and exc.options is not None and exc.missing_cfg_file:
        group, _, option = exc.missing_cfg_file.partition("/")
        # `model@baseline=foo` is reported by Hydra as model/foo: name the override as typed.
        key = next((k for k, _, v in (o.partition("=") for o in overrides)
                    if k.split("@")[0].lstrip("+~") == group and v == option), group)
        return (
            f"{key}={option}: no such option (no {CONF_DIR}/{group}/{option}.yaml); "
            f"allowed: {', '.join(exc.options)}"
        )
    if isinstance(exc, OverrideParseException):
        return f"{exc.override}: not an override Hydra can parse ({exc.message.splitlines()[0]}); write key=value"
    first = str(exc).splitlines()[0]
    if first.startswith("Could not override '"):
        key = first.split("'")[1]
        allowed = allowed_keys(key)
        hint = f"allowed keys there: {', '.join(allowed)}" if allowed else "check the key's spelling in conf/"
        return f"{key}: unknown key; {hint}"
    return f"composing {CONF_DIR}/: {first}"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="compose conf/ into params.yaml")
    p.add_argument("overrides", nargs="*")
    p.add_argument("--check", action="store_true", help="only compare, exit 1 on difference")
    p.add_argument("--out", default="params.yaml")
    args = p.parse_args(argv)
    try:
        text = composed_text(args.overrides)
    except Exception as exc:  # Hydra's errors name the bad override or missing option
        print(f"error: {compose_error_line(exc, args.overrides)}", file=sys.stderr)
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
