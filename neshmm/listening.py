"""Analyse a blind listening test (render/listen.html): preference rates per pair type.

    python -m neshmm.listening analyze answers.csv [more.csv ...] [--key render/listen_key.json] [--level 0.95]

Each CSV (downloaded from the page, one per listener) holds clip ids only; the key
(render/listen_key.json, written by `dvc repro render`) says which source each clip is.
For every pair type "X vs Y" this prints how often X was preferred, with a Wilson score
interval (binomial, at ``--level``): Wilson rather than Clopper-Pearson because the
exact interval is conservative (covers more than the nominal level) and a listening test
has few answers per type, where that costs the most width; Wilson stays close to nominal
and, unlike the normal approximation, within [0, 1] and sensible at 0 or n successes.
It also prints how often the clip played as A was chosen (position bias; 50% expected).
An answer given twice (same listener and pair, e.g. two downloads) counts once, the last.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from statistics import NormalDist

from neshmm.audio.listening import CSV_COLUMNS, pair_type
from neshmm.errors import DataError, NeshmmError


def wilson(successes: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion; (nan, nan) for n = 0."""
    if n == 0:
        return math.nan, math.nan
    z = NormalDist().inv_cdf(0.5 + level / 2)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass
class Tally:
    first: str
    second: str
    n: int = 0
    first_preferred: int = 0


def read_answers(paths: list[Path], key: dict) -> list[dict]:
    """Rows of every CSV, checked against the key; one row per (listener, pair), the last."""
    rows: dict[tuple[str, int], dict] = {}
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
        reader = csv.DictReader(text.splitlines())
        missing = [c for c in ("test", "listener", "pair", "a", "b", "choice") if c not in (reader.fieldnames or [])]
        if missing:
            raise DataError(f"{path}: not a listening-test CSV (missing columns {', '.join(missing)}; expected {','.join(CSV_COLUMNS)})")
        for line, row in enumerate(reader, 2):
            if row["test"] != key["test"]:
                raise DataError(f"{path}:{line}: answers to test {row['test']!r}, but the key is for test {key['test']!r}; "
                                "pass the listen_key.json rendered with that page (--key)")
            for col in ("a", "b", "choice"):
                if row[col] not in key["clips"]:
                    raise DataError(f"{path}:{line}: clip id {row[col]!r} ({col}) is not in the key")
            if row["choice"] not in (row["a"], row["b"]):
                raise DataError(f"{path}:{line}: choice {row['choice']!r} is neither clip of the pair")
            rows[(row["listener"], int(row["pair"]))] = row
    return list(rows.values())


def tally(rows: list[dict], key: dict) -> tuple[dict[str, Tally], int, int]:
    """Per pair type: answers and how often its first source won; plus (A chosen, answers)."""
    out: dict[str, Tally] = {}
    a_chosen = 0
    for row in rows:
        sa, sb = key["clips"][row["a"]]["source"], key["clips"][row["b"]]["source"]
        first, second = pair_type(sa, sb)
        t = out.setdefault(f"{first} vs {second}", Tally(first, second))
        t.n += 1
        t.first_preferred += key["clips"][row["choice"]]["source"] == first
        a_chosen += row["choice"] == row["a"]
    return dict(sorted(out.items())), a_chosen, len(rows)


def report(rows: list[dict], key: dict, level: float) -> str:
    tallies, a_chosen, n = tally(rows, key)
    listeners = len({r["listener"] for r in rows})
    lines = [
        f"test {key['test']}: {n} answers from {listeners} listener(s); {level:.0%} Wilson score intervals",
        "",
        f"| pair type | answers | first preferred | rate | {level:.0%} CI |",
        "|:--|--:|--:|--:|:--|",
    ]
    for name, t in tallies.items():
        lo, hi = wilson(t.first_preferred, t.n, level)
        lines.append(f"| {name}: {t.first} preferred | {t.n} | {t.first_preferred} | {t.first_preferred / t.n:.3f} | "
                     f"[{lo:.3f}, {hi:.3f}] |")
    lo, hi = wilson(a_chosen, n, level)
    lines += ["", f"position: clip A chosen {a_chosen} of {n} ({a_chosen / n:.3f}, CI [{lo:.3f}, {hi:.3f}]; 0.5 = no bias)"
              if n else "no answers"]
    return "\n".join(lines) + "\n"


def load_key(path: Path) -> dict:
    try:
        key = json.loads(path.read_text(encoding="utf-8"))
        key["test"], key["clips"]  # noqa: B018 - shape check
        return key
    except FileNotFoundError:
        raise DataError(f"{path}: key not found; run `dvc repro render` (or pass --key)") from None
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise DataError(f"{path}: not a listening-test key ({type(exc).__name__}: {exc})") from None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m neshmm.listening", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    a = sub.add_parser("analyze", help="preference rates per pair type with Wilson intervals")
    a.add_argument("answers", nargs="+", type=Path, help="CSV files downloaded from listen.html")
    a.add_argument("--key", type=Path, default=Path("render/listen_key.json"))
    a.add_argument("--level", type=float, default=0.95)
    args = p.parse_args(argv)
    try:
        if not 0 < args.level < 1:
            raise DataError(f"--level={args.level}: must be in (0, 1), e.g. 0.95")
        key = load_key(args.key)
        print(report(read_answers(args.answers, key), key, args.level), end="")
    except NeshmmError as exc:
        print(f"error [listening]: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
