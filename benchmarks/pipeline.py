"""Benchmark: the whole pipeline, the original notebook's path (BASELINE) against ours.

    python -m benchmarks.pipeline                       # full NES-MDB train split, full baseline
    python -m benchmarks.pipeline --baseline-iters 5    # time 5 baseline EM iterations per voice
                                                        # and extrapolate (labelled as such)
    python -m benchmarks.pipeline --files 500 --n-iter 20
    python -m benchmarks.pipeline --quick --demo        # seconds, tiny demo corpus

Corpus: ``$NESMDB_DIR`` if set, else ``../shared/nesmdb_midi`` next to the project, when its
``train/`` exists; otherwise (or with ``--demo``) the bundled demo corpus generator, scaled
to the same number of files (4502 train / 403 valid, or the ``--files`` subset). The
header says which one was used.

Both sides run on the same training files (ours picks them with ``data.sample_fraction``
and ``data.seed``; the baseline is handed the same list) and the same settings (16 states,
``n_iter``, tol 0.01, seed 17). Every stage runs as its own child process in a temporary
working directory; ours are the real stage entry points (``python -m stages.<name>``) with a
``params.yaml`` made from the project's own one with ``data.path`` pointing at the corpus.
Per stage the script prints wall time, CPU time (user+system of the process tree), peak
memory (resident, summed over the tree), tokens, tokens per second, EM iterations and
seconds per iteration, and then baseline/ours ratios.

Training order: DVC runs the ``train@<voice>-<role>`` stages one after another; that is
what ``--train-jobs 1`` (default) measures (each HMM fit still splits its E-step over one
worker process per core, see neshmm.models.hmm). ``--train-jobs 2`` runs them two at a time,
which is what a joblib-parallel train over voices would give.

On a few dozen files ours is slower than the baseline: every stage is a fresh Python
process (0.2-0.3 s to start, about a second more where hmmlearn is imported); the speed-ups
show from a few hundred files on.

Timings depend on load: the header prints the load average before and after, and CPU time
is reported next to wall time because it is much less sensitive to other processes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import yaml

from benchmarks._measure import ROOT, Run, fmt, load_average, python_module, render_table, run_measured

VOICES = ("p1", "p2", "tr", "no")
NESMDB_TRAIN_FILES, NESMDB_VALID_FILES = 4502, 403
HEADERS = ["stage", "wall_s", "cpu_s", "peak_MB", "tokens", "tok/s", "em_iters", "s/iter", "note"]


def nesmdb_dir() -> Path:
    return Path(os.environ.get("NESMDB_DIR", ROOT.parent / "shared" / "nesmdb_midi"))


# ---------------------------------------------------------------------------------------
# Corpus


def _subset(paths: list[Path], n: int, seed: int) -> list[Path]:
    """``n`` of ``paths``, drawn at random (seeded) but kept in sorted order."""
    if n >= len(paths):
        return paths
    idx = np.sort(np.random.default_rng(seed).choice(len(paths), size=n, replace=False))
    return [paths[i] for i in idx]


def _demo_corpus(n_train: int, n_valid: int, cache: Path) -> Path:
    """The demo generator's corpus at this size, cached (generation is deterministic)."""
    from neshmm.data.demo_corpus import generate_corpus

    out = cache / f"neshmm-bench-demo-{n_train}-{n_valid}"
    if not (out / "COMPLETE").exists():
        shutil.rmtree(out, ignore_errors=True)
        generate_corpus(out, seed=0, n_train=n_train, n_valid=n_valid, n_test=1)
        (out / "COMPLETE").write_text("ok\n")
    return out


def prepare_corpus(args, work: Path) -> dict:
    """Pick the corpus and the file subset; return where it is and how it was chosen."""
    from neshmm.data.corpus import find_midi_files

    real = nesmdb_dir()
    use_real = not args.demo and (real / "train").is_dir() and find_midi_files(real / "train")
    if use_real:
        n_all = len(find_midi_files(real / "train"))
    else:
        n_all = NESMDB_TRAIN_FILES
    if args.files:
        n_train = min(args.files, n_all)
    else:
        n_train = max(1, round(args.fraction * n_all))
    if use_real:
        source = real
        label = f"real NES-MDB at {real}"
    else:
        n_valid = max(1, round(n_train * NESMDB_VALID_FILES / NESMDB_TRAIN_FILES))
        cache = work if args.quick else Path(tempfile.gettempdir())
        source = _demo_corpus(n_train, n_valid, cache)
        label = f"demo corpus (neshmm.data.demo_corpus, seed 0) at {source}: NES-MDB not found" + (
            " (--demo)" if args.demo else f" at {real}"
        )
    splits = {}
    for split in ("train", "valid", "test"):
        folder = source / split
        paths = find_midi_files(folder) if folder.is_dir() else []
        if split == "train":
            paths = _subset(paths, n_train, seed=0)
        elif paths and use_real:
            paths = _subset(paths, max(1, round(len(paths) * n_train / n_all)), seed=0)
        splits[split] = paths
    full = use_real and len(splits["train"]) == n_all and not args.files and args.fraction >= 1
    if full:
        root = source  # the corpus itself, untouched
    else:
        root = work / "corpus"
        for split, paths in splits.items():
            (root / split).mkdir(parents=True, exist_ok=True)
            for p in paths:
                (root / split / p.name).symlink_to(p.resolve())
    train = find_midi_files(root / "train")
    return {
        "label": label,
        "real": bool(use_real),
        "root": root,
        "train_files": train,
        "counts": {s: len(p) for s, p in splits.items()},
    }


# ---------------------------------------------------------------------------------------
# Ours: the stage entry points in a working directory


def write_params(work: Path, corpus: dict, args) -> dict:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["data"]["name"] = "nesmdb" if corpus["real"] else "demo"
    params["data"]["path"] = str(corpus["root"])
    if args.n_iter:
        params["model"]["n_iter"] = args.n_iter
        params["joint"]["n_iter"] = args.n_iter
    if args.voices:
        params["voices"] = list(args.voices)
    if args.quick:
        params["sample"]["n_samples"] = 1
        params["sample"]["beats"] = 16.0
    work.mkdir(parents=True, exist_ok=True)
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return params


def stage(work: Path, name: str, *args: str) -> Run:
    return run_measured(python_module(f"stages.{name}", *args), cwd=work).check()


def run_ours(work: Path, corpus: dict, args) -> dict:
    params = write_params(work, corpus, args)
    voices = list(params["voices"])
    rows: dict[str, Run] = {}
    rows["scan"] = stage(work, "scan")
    rows["scan"].extra["note"] = "list the corpus (regular .mid files, sizes, hashes)"
    rows["prepare"] = stage(work, "prepare")
    report = json.loads((work / "data/prepared/report.json").read_text())
    rows["prepare"].extra["tokens"] = sum(
        sum(s["notes_per_voice"].values()) for s in report["splits"].values()
    )
    rows["prepare"].extra["note"] = "parse MIDI once (all splits); tokens = notes"
    rows["tokenize"] = stage(work, "tokenize")
    summary = json.loads((work / "data/tokens/summary.json").read_text())
    rows["tokenize"].extra["tokens"] = sum(
        v[s]["tokens"] for v in summary["voices"].values() for s in ("train", "valid", "test")
    )
    jobs = [(v, r) for v in voices for r in ("model", "baseline")]  # DVC's matrix order
    t0 = time.perf_counter()
    if args.train_jobs > 1:
        with ThreadPoolExecutor(max_workers=args.train_jobs) as pool:
            runs = list(pool.map(lambda j: stage(work, "train", "--voice", j[0], "--role", j[1]), jobs))
    else:
        runs = [stage(work, "train", "--voice", v, "--role", r) for v, r in jobs]
    train_wall = time.perf_counter() - t0
    for (voice, role), run in zip(jobs, runs):
        log = work / "logs" / f"train_{role}_{voice}.json"
        info = json.loads(log.read_text()) if log.exists() else {}
        run.extra.update(
            tokens=info.get("n_tokens"),
            em_iters=info.get("n_iter") if role == "model" else None,
            fit_seconds=info.get("fit_seconds"),
            converged=info.get("converged"),
            note=("HMM" if role == "model" else "Markov") + (
                f", converged={info.get('converged')}" if role == "model" else ""
            ),
        )
        rows[f"train {voice} {role}"] = run
    rows["train_joint"] = stage(work, "train_joint")
    joint_log = work / "logs" / "train_joint.json"
    if joint_log.exists():
        info = json.loads(joint_log.read_text())
        rows["train_joint"].extra.update(em_iters=info.get("n_iter"), fit_seconds=info.get("fit_seconds"),
                                         converged=info.get("converged"), note="joint four-voice HMM (frames)")
    rows["sample"] = stage(work, "sample")
    rows["evaluate"] = stage(work, "evaluate")
    return {"rows": rows, "train_wall": train_wall, "summary": summary, "params": params}


# ---------------------------------------------------------------------------------------
# Baseline: the notebook's phases


def baseline(work: Path, phase: str, *args: str) -> Run:
    return run_measured(python_module("benchmarks.notebook_baseline", phase, *args), cwd=work).check()


def result_of(run: Run) -> dict:
    for line in run.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    raise RuntimeError(f"no RESULT line in {run.cmd}: {run.stdout[-2000:]}")


def run_baseline(work: Path, corpus: dict, train_names: list[str] | None, target_iters: dict, args) -> dict:
    from neshmm.data.token_store import training_files

    work.mkdir(parents=True, exist_ok=True)
    paths = corpus["train_files"]
    names = [p.relative_to(corpus["root"] / "train").as_posix() for p in paths]
    if train_names is not None:
        pos = {n: i for i, n in enumerate(names)}
        chosen = sorted(pos[n] for n in train_names if n in pos)
    else:
        chosen = training_files(len(paths), 0.5, 17).tolist()
    voices = list(args.voices or VOICES)
    (work / "files.json").write_text(
        json.dumps({"all": [str(p) for p in paths], "train": chosen, "voices": voices})
    )
    rows: dict[str, Run] = {}
    rows["parse"] = baseline(work, "parse")
    res = result_of(rows["parse"])
    rows["parse"].extra.update(tokens=res["tokens"], note="miditoolkit + per-note Python tokens")
    n_iter = args.n_iter or 100
    for voice in voices:
        iters = args.baseline_iters if args.baseline_iters else n_iter
        run = baseline(work, "fit", "--voice", voice, "--n-iter", str(min(iters, n_iter)))
        res = result_of(run)
        run.extra.update(tokens=res["tokens"], em_iters=res["em_iters"], fit_seconds=res["fit_wall"])
        note = f"hmmlearn {res.get('implementation', 'log')}"
        ran, target = res["em_iters"], target_iters.get(voice, n_iter)
        if args.baseline_iters and ran and ran < n_iter and not res["converged"] and target != ran:
            per_wall, per_cpu = res["fit_wall"] / ran, res["fit_cpu"] / ran
            run.wall += per_wall * (target - ran)
            run.cpu += per_cpu * (target - ran)
            run.extra.update(em_iters=target, fit_seconds=per_wall * target, extrapolated=True)
            note += f", EXTRAPOLATED from {ran} timed iterations to {target}"
        run.extra["note"] = note
        rows[f"fit {voice} hmm"] = run
    rows["markov"] = baseline(work, "markov")
    rows["markov"].extra.update(tokens=result_of(rows["markov"])["tokens"], note="Python dict Markov chain, all voices")
    rows["sample"] = baseline(work, "sample")
    rows["sample"].extra["tokens"] = result_of(rows["sample"])["tokens"]
    rows["evaluate"] = baseline(work, "evaluate")
    res = result_of(rows["evaluate"])
    rows["evaluate"].extra.update(tokens=res["notes"], note="miditoolkit parse again; tokens = notes")
    return {"rows": rows, "kl": res["kl_pitch"]}


# ---------------------------------------------------------------------------------------
# Report


def stage_row(name: str, run: Run) -> list:
    tokens = run.extra.get("tokens")
    iters = run.extra.get("em_iters")
    fit_s = run.extra.get("fit_seconds")
    return [
        name,
        fmt(run.wall),
        fmt(run.cpu),
        fmt(run.peak_mb, ".0f"),
        fmt(tokens, "d") if isinstance(tokens, int) else "-",
        fmt(tokens / run.wall, ",.0f") if tokens and run.wall > 0 else "-",
        fmt(iters, "d") if iters else "-",
        fmt(fit_s / iters, ".3f") if iters and fit_s else "-",
        run.extra.get("note", ""),
    ]


def total(runs: list[Run], wall: float | None = None) -> Run:
    return Run(
        cmd=[],
        wall=sum(r.wall for r in runs) if wall is None else wall,
        cpu=sum(r.cpu for r in runs),
        peak_mb=max((r.peak_mb for r in runs), default=0.0),
        returncode=0,
        stdout="",
        stderr="",
    )


def comparison(base: dict[str, Run], ours: dict[str, Run], voices: list[str], ours_train_wall: float) -> list[list]:
    groups = [("parse + tokenize", ["parse"], ["prepare", "tokenize"])]
    for v in voices:
        groups.append((f"train HMM {v}", [f"fit {v} hmm"], [f"train {v} model"]))
    groups.append(("train Markov (all voices)", ["markov"], [f"train {v} baseline" for v in voices]))
    groups.append(("sample", ["sample"], ["sample"]))
    groups.append(("evaluate", ["evaluate"], ["evaluate"]))
    rows = []
    for name, b_keys, o_keys in groups:
        b = total([base[k] for k in b_keys if k in base])
        o = total([ours[k] for k in o_keys if k in ours])
        rows.append(_cmp_row(name, b, o))
    b_all = total(list(base.values()))
    non_train = [r for k, r in ours.items() if not k.startswith("train ")]
    o_all = total(list(ours.values()), wall=sum(r.wall for r in non_train) + ours_train_wall)
    rows.append(_cmp_row("TOTAL (raw MIDI -> metrics)", b_all, o_all))
    return rows


def _cmp_row(name: str, b: Run, o: Run) -> list:
    return [
        name,
        fmt(b.wall),
        fmt(o.wall),
        fmt(b.wall / o.wall, ".1f") + "x" if o.wall > 0 else "-",
        fmt(b.cpu),
        fmt(o.cpu),
        fmt(b.cpu / o.cpu, ".1f") + "x" if o.cpu > 0 else "-",
        f"{b.peak_mb:.0f} / {o.peak_mb:.0f}",
    ]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--files", type=int, default=None, help="use N training files (seeded random subset)")
    p.add_argument("--fraction", type=float, default=1.0, help="use this fraction of the training files")
    p.add_argument("--n-iter", type=int, default=None, help="EM iterations for both sides (default: params.yaml's 100)")
    p.add_argument("--baseline-iters", type=int, default=None,
                   help="time only K baseline EM iterations per voice and extrapolate (labelled)")
    p.add_argument("--train-jobs", type=int, default=1, help="ours: train stages run J at a time (DVC: 1)")
    p.add_argument("--voices", nargs="+", choices=VOICES, default=None, help="default: all four")
    p.add_argument("--quick", action="store_true",
                   help="tiny run: 12 files, voice p1 only, 3 EM iterations, 1 short sample")
    p.add_argument("--demo", action="store_true", help="use the demo corpus even if NES-MDB is present")
    p.add_argument("--skip-baseline", action="store_true")
    p.add_argument("--skip-ours", action="store_true")
    p.add_argument("--workdir", type=Path, default=None, help="keep working files here (default: a temp dir)")
    p.add_argument("--json", type=Path, default=None, help="also write the measurements as JSON")
    args = p.parse_args(argv)
    if args.quick:
        args.files = args.files or 12
        args.n_iter = args.n_iter or 3
        args.voices = args.voices or ["p1"]
    if not 0 < args.fraction <= 1:
        p.error("--fraction must be in (0, 1]")

    work = args.workdir or Path(tempfile.mkdtemp(prefix="neshmm-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    load_before = load_average()
    try:
        corpus = prepare_corpus(args, work)
        counts = corpus["counts"]
        print("# neshmm pipeline benchmark")
        print(f"corpus: {corpus['label']}")
        print(f"files: train {counts['train']}, valid {counts['valid']}, test {counts['test']}"
              f" (sample_fraction 0.5 of train is trained on)")
        print(f"machine: {os.cpu_count()} CPUs; load average before: {load_before}")
        print(f"settings: voices {' '.join(args.voices or VOICES)}, n_iter {args.n_iter or 100}, "
              f"train jobs {args.train_jobs}, "
              f"baseline EM {'timed for ' + str(args.baseline_iters) + ' iterations, extrapolated' if args.baseline_iters else 'run in full'}")
        sys.stdout.flush()

        ours = None
        if not args.skip_ours:
            ours = run_ours(work / "ours", corpus, args)
        base = None
        if not args.skip_baseline:
            train_names = ours["summary"]["train_files"] if ours else None
            targets = {}
            if ours:
                for v in VOICES:
                    r = ours["rows"].get(f"train {v} model")
                    if r is not None and r.extra.get("em_iters"):
                        targets[v] = r.extra["em_iters"]
            base = run_baseline(work / "baseline", corpus, train_names, targets, args)

        out_json: dict = {"corpus": corpus["label"], "counts": counts, "load_before": load_before}
        if base:
            rows = [stage_row(k, r) for k, r in base["rows"].items()]
            rows.append(stage_row("TOTAL", total(list(base["rows"].values()))))
            print("\n## BASELINE: the notebook's path (miditoolkit, per-note Python, hmmlearn 'log', serial)\n")
            print(render_table(HEADERS, rows, "lrrrrrrrl"))
            out_json["baseline"] = {k: _run_json(r) for k, r in base["rows"].items()}
        if ours:
            rows = [stage_row(k, r) for k, r in ours["rows"].items()]
            non_train = [r for k, r in ours["rows"].items() if not k.startswith("train ")]
            train_runs = [r for k, r in ours["rows"].items() if k.startswith("train ")]
            rows.append(stage_row(f"train, all (jobs={args.train_jobs})", total(train_runs, wall=ours["train_wall"])))
            rows.append(stage_row("TOTAL", total(non_train + train_runs, wall=sum(r.wall for r in non_train) + ours["train_wall"])))
            print("\n## OURS: this pipeline's stages (python -m stages.<name>)\n")
            print(render_table(HEADERS, rows, "lrrrrrrrl"))
            out_json["ours"] = {k: _run_json(r) for k, r in ours["rows"].items()}
            out_json["ours_train_wall"] = ours["train_wall"]
        if base and ours:
            print("\n## baseline / ours\n")
            print(render_table(
                ["stage", "baseline_wall_s", "ours_wall_s", "ratio_wall", "baseline_cpu_s", "ours_cpu_s", "ratio_cpu", "peak_MB b/o"],
                comparison(base["rows"], ours["rows"], list(ours["params"]["voices"]), ours["train_wall"]),
                "lrrrrrrr",
            ))
            print(
                "\nratio = baseline / ours: above 1x ours is faster, below 1x slower (0.5x = ours takes twice "
                "as long).\nOn a small corpus (--quick, --demo) ours is slower by design: each of its ~12 stages is "
                "a fresh\nPython process (0.2-0.3 s to start; the HMM stages import hmmlearn, ~1 s) where the notebook path is one "
                "process;\nthe parsing and E-step speed-ups outweigh that from a few hundred files on "
                "(docs/performance.md)."
            )
        load_after = load_average()
        print(f"\nload average after: {load_after} (on {os.cpu_count()} CPUs)")
        out_json["load_after"] = load_after
        if args.json:
            args.json.write_text(json.dumps(out_json, indent=2))
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


def _run_json(run: Run) -> dict:
    return {"wall": run.wall, "cpu": run.cpu, "peak_mb": run.peak_mb, **run.extra}


if __name__ == "__main__":
    sys.exit(main())
