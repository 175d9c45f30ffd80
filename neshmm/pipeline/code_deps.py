"""The project source files a module runs: its static import closure within the project.

One rule for "what must rerun after a code change", shared by DVC and the sweep cache:
`tests/pipeline/test_code_deps.py` checks that each stage's deps in `dvc.yaml` cover the
closure of its `stages/<name>.py`, and :func:`neshmm.sweep.cache.code_version` hashes the
closure of the sweep job. Imports are read from the source (``ast``), including imports
inside functions, so a lazily imported module counts too. The one dynamic import, the model
registry, is resolved by adding every registered model module whenever
``neshmm.models`` is reached.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("neshmm", "stages")


def module_path(name: str, root: Path = ROOT) -> Path | None:
    base = root.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imported(path: Path, name: str) -> set[str]:
    """Project modules named by the import statements of one file (``name`` is its module)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                mod = f"{base}.{node.module}" if node.module else base
            else:
                mod = node.module or ""
            found.add(mod)
            found |= {f"{mod}.{a.name}" for a in node.names}  # `from pkg import module`
    return {m for m in found if m.split(".")[0] in PACKAGES}


def closure(entries: list[str], root: Path = ROOT) -> list[Path]:
    """Source files (relative to ``root``) of ``entries`` and everything they import, sorted."""
    from neshmm.models import model_names

    seen: dict[str, Path] = {}
    todo = list(entries)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        path = module_path(name, root)
        if path is None:
            continue  # a name imported from a module, not a module
        seen[name] = path
        parts = name.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts))]  # parent packages run first
        todo += sorted(_imported(path, name))
        if name == "neshmm.models":
            todo += [f"neshmm.models.{m}" for m in model_names()]
    return sorted(p.relative_to(root) for p in seen.values())
