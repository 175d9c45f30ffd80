"""Check (and with ``--fix`` repair) a dvc.lock that an interrupted DVC left unreadable.

    python -m neshmm.dvclock          # one line: ok, or what is wrong and how to recover
    python -m neshmm.dvclock --fix    # restore it from git if committed, else remove it

Why: DVC rewrites dvc.lock in place (open with truncation, then write), so a Ctrl-C or kill
that lands in DVC's own bookkeeping right after a stage, rather than in the stage, can
leave the file cut short; the next ``dvc repro`` then stops with a multi-line schema error
before any of our code runs. Nothing in a stage can prevent it (DVC ignores SIGINT only
while a stage's command runs). Removing the file is safe: DVC's run cache restores every
stage that had finished, so the next ``dvc repro`` reruns nothing it does not have to.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml


def problem(path: Path = Path("dvc.lock")) -> str | None:
    """Why ``path`` is not a lock file DVC can read, or None (absent is fine: DVC starts over)."""
    if not path.exists():
        return None
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        return f"not valid YAML ({type(exc).__name__})"
    if not isinstance(data, dict) or "schema" not in data or not isinstance(data.get("stages"), dict):
        return "truncated (no 'schema' or 'stages' mapping)"
    try:  # DVC's own lock schema, exactly what `dvc repro` applies
        from dvc.schema import COMPILED_LOCKFILE_SCHEMA
    except ImportError:
        COMPILED_LOCKFILE_SCHEMA = None
    if COMPILED_LOCKFILE_SCHEMA is not None:
        try:
            COMPILED_LOCKFILE_SCHEMA(data)
        except Exception as exc:  # voluptuous.Invalid and its subclasses
            return f"truncated ({str(exc).splitlines()[0]})"
    for name, entry in data["stages"].items():
        if not isinstance(entry, dict) or not isinstance(entry.get("cmd"), (str, list)):
            return f"truncated in stage {name!r}"
        for key in ("deps", "outs"):
            for item in entry.get(key) or []:
                if not isinstance(item, dict) or "path" not in item or not any(h in item for h in ("md5", "hash")):
                    return f"truncated in stage {name!r} ({key})"
        params = entry.get("params") or {}
        if not isinstance(params, dict) or any(not isinstance(v, dict) for v in params.values()):
            return f"truncated in stage {name!r} (params)"
    return None


def fix(path: Path = Path("dvc.lock")) -> str:
    """Restore ``path`` from git when the committed version is readable, else remove it."""
    restored = subprocess.run(["git", "checkout", "--", str(path)], capture_output=True).returncode == 0
    if restored and problem(path) is None:
        return f"{path}: restored from git; run `dvc repro`"
    path.unlink(missing_ok=True)
    return f"{path}: removed; run `dvc repro` (the run cache restores the stages that had finished)"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    path = Path("dvc.lock")
    why = problem(path)
    if why is None:
        print(f"{path}: ok")
        return 0
    if "--fix" in argv:
        print(fix(path))
        return 0
    print(f"{path}: {why}, left by an interrupted DVC write; run `python -m neshmm.dvclock --fix` "
          "(or `git checkout dvc.lock`, or delete it), then `dvc repro`", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
