"""Carry an applied experiment's parameters from params.yaml back into conf/.

`dvc exp apply <exp>` restores the experiment's params.yaml, but conf/ is the source of
truth: the next `dvc exp run` would compose conf/ again and silently undo the experiment,
and the committed params.yaml would no longer be what conf/ composes to. This writes each
differing value into the conf/ file it comes from (comments kept), switches a config group
when the experiment chose another option (e.g. `model=markov`), and then checks that conf/
composes exactly to params.yaml.

    dvc exp apply <exp> && python -m neshmm.sweep.adopt && git add -A && git commit -m "..."
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path
from typing import Any

import yaml

from neshmm.errors import ConfigError, NeshmmError
from neshmm.params import CONF_DIR, CONFIG_NAME, composed_text


def _leaves(d: Any, prefix: tuple = ()) -> dict[tuple, Any]:
    if isinstance(d, dict) and d:
        out: dict[tuple, Any] = {}
        for k, v in d.items():
            out.update(_leaves(v, prefix + (k,)))
        return out
    return {prefix: d}


def differences(composed: dict, target: dict) -> dict[tuple, Any]:
    """Leaf paths whose value in ``target`` differs from ``composed`` (new values)."""
    a, b = _leaves(composed), _leaves(target)
    missing = [".".join(map(str, p)) for p in a if p not in b]
    if missing:
        raise ConfigError(f"params.yaml lacks {', '.join(missing)}; cannot tell how conf/ should change")
    return {p: v for p, v in b.items() if p not in a or a[p] != v}


def choices(root: Path) -> dict[str, str]:
    """Hydra's group choices of conf/ (e.g. {"model": "hmm", "model@baseline": "markov"})."""
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(str((root / CONF_DIR).resolve()), version_base=None):
        cfg = compose(CONFIG_NAME, return_hydra_config=True)
    return {k: v for k, v in cfg.hydra.runtime.choices.items() if not k.startswith("hydra/") and v is not None}


def _rt():
    from ruamel.yaml import YAML

    y = YAML()
    y.preserve_quotes = True
    y.width = 4096
    y.indent(mapping=2, sequence=4, offset=2)  # the "  - item" style of conf/
    return y


def _like(old: Any, value: Any) -> Any:
    """``value`` as a flow-style list (``[a, b]``) when the value it replaces was one."""
    from ruamel.yaml.comments import CommentedSeq

    if isinstance(value, list) and isinstance(old, CommentedSeq) and old.fa.flow_style():
        seq = CommentedSeq(value)
        seq.fa.set_flow_style()
        return seq
    return value


def _dump(y, data) -> str:
    buf = io.StringIO()
    y.dump(data, buf)
    return buf.getvalue()


def _edit(path: Path, edits: list[tuple[tuple, Any]]) -> None:
    from neshmm import atomic

    y = _rt()
    data = y.load(path.read_text(encoding="utf-8"))
    for keys, value in edits:
        node = data
        for k in keys[:-1]:
            node = node.setdefault(k, {})
        node[keys[-1]] = _like(node.get(keys[-1]), value)
    atomic.write_text(path, _dump(y, data))


def _switch_group(root: Path, choice_key: str, option: str) -> None:
    """Change ``- <choice_key>: <old>`` to ``<option>`` in the defaults list of config.yaml."""
    from neshmm import atomic

    path = root / CONF_DIR / f"{CONFIG_NAME}.yaml"
    y = _rt()
    data = y.load(path.read_text(encoding="utf-8"))
    for entry in data["defaults"]:
        if isinstance(entry, dict) and choice_key in entry:
            entry[choice_key] = option
    atomic.write_text(path, _dump(y, data))


def adopt(root: Path = Path("."), params: Path = Path("params.yaml")) -> list[str]:
    """Edit conf/ so it composes to ``params``; return the changes, one per line."""
    target = yaml.safe_load((root / params).read_text(encoding="utf-8"))
    done: list[str] = []
    for _ in range(3):  # a switched group brings its own values; compare again after it
        composed = yaml.safe_load(composed_text([], root))
        if composed == target:
            return done
        chosen = choices(root)
        switched = False
        for key, option in chosen.items():
            group, _, package = key.partition("@")
            package = package or group
            want = (target.get(package) or {}).get("name") if isinstance(target.get(package), dict) else None
            if want and want != option and (root / CONF_DIR / group / f"{want}.yaml").exists():
                _switch_group(root, key, want)
                done.append(f"conf/{CONFIG_NAME}.yaml: {key}: {option} -> {want}")
                switched = True
        if switched:
            continue
        per_file: dict[Path, list] = {}
        for path, value in differences(composed, target).items():
            key = next((k for k in chosen if (k.partition("@")[2] or k) == path[0]), None)
            if key is not None and len(path) > 1:
                group = key.partition("@")[0]
                file, keys = root / CONF_DIR / group / f"{chosen[key]}.yaml", path[1:]
            else:
                file, keys = root / CONF_DIR / f"{CONFIG_NAME}.yaml", path
            per_file.setdefault(file, []).append((keys, value))
            done.append(f"{file.relative_to(root).as_posix()}: {'.'.join(map(str, keys))} = {value!r}")
        for file, edits in per_file.items():
            _edit(file, edits)
    left = differences(yaml.safe_load(composed_text([], root)), target)
    if left:
        raise ConfigError(
            f"conf/ still differs from {params} at {', '.join('.'.join(map(str, p)) for p in left)}; edit conf/ by hand"
        )
    return done


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="write params.yaml's values (an applied experiment) into conf/")
    p.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = p.parse_args(argv)
    try:
        changes = adopt(Path("."), args.params)
    except (NeshmmError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("\n".join(changes) if changes else f"conf/ already composes to {args.params}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
