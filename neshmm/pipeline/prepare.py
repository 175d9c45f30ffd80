"""Step `prepare`: parse every MIDI file the corpus manifest lists, once; skip, count and report bad ones.

The files come from the manifest written by step `scan` (``neshmm.data.manifest``), never
from listing ``data.path`` again: DVC depends on the manifest, not on the raw folder (which
it cannot hash safely), and files the scan already found unusable (a FIFO, a broken or
looping symlink, an unreadable file, a non-UTF-8 name) are counted here under their reason
without being opened.

Bad files never stop the stage (they are skipped and counted by reason in
``data/prepared/report.json``), unless more than ``data.max_failed_fraction`` of a split
fails, which means a wrong folder rather than a few bad files, or a split the
configuration needs (``evaluate.reference``, ``evaluate.heldout``,
``render.reference_split``) is missing or has no readable file: without this check a
missing ``valid/`` gave a "successful" run whose held-out scores were simply absent. All
splits are parsed before anything is written, and the output folder is swapped in whole,
so a killed or failed run leaves the previous prepared corpus or none, never a mix.
"""

from __future__ import annotations

from pathlib import Path

from neshmm import atomic
from neshmm.config import Config
from neshmm.data.corpus import (
    FileResult,
    build_split,
    check_failures,
    effective_jobs,
    missing_corpus_message,
    parse_file,
    parse_pair,
    report_totals,
    split_report,
    summary_line,
)
from neshmm.data.manifest import Manifest, SplitManifest
from neshmm.errors import DataError
from neshmm.pipeline.paths import FAILED_PREPARE_REPORT

PARALLEL_MIN_FILES = 64  # below this, worker processes cost more than they save


def required_splits(cfg: Config, render: bool = True) -> dict[str, list[str]]:
    """Split -> the config keys that need it (train always; test only when configured).

    ``render=False`` for sweep jobs, which never render (their cache keys leave
    ``render`` out, so it must not change what they accept)."""
    need: dict[str, list[str]] = {"train": ["data.splits.train"]}
    uses = [("evaluate.reference", cfg.evaluate.reference), ("evaluate.heldout", cfg.evaluate.heldout)]
    if render and cfg.render.n_reference > 0:
        uses.append(("render.reference_split", cfg.render.reference_split))
    for key, split in uses:
        need.setdefault(split, []).append(f"{key}={split}")
    return need


def parse_listed(folder: Path, split: SplitManifest, jobs: int) -> list[FileResult]:
    """Parse the manifest's readable files of one split (in parallel for big splits), in
    manifest order; entries the scan skipped become skipped results with its reason."""
    todo = [(folder / e.name, e.name) for e in split.readable]
    if jobs == 1 or len(todo) < PARALLEL_MIN_FILES:
        parsed = [parse_file(p, n) for p, n in todo]
    else:
        from neshmm.parallel import ordered_map

        parsed = list(ordered_map(parse_pair, todo, jobs, chunksize=64))
    by_name = {r.name: r for r in parsed}
    return [
        by_name[e.name] if e.skip is None else FileResult(e.name, skipped=e.skip, detail=e.detail)
        for e in split.files
    ]


def check_required(cfg: Config, folders: dict[str, Path], reports: dict[str, dict], render: bool) -> None:
    """One line naming the missing (or unusable) folder and the keys that need it."""
    for split, keys in required_splits(cfg, render).items():
        rep = reports[split]
        if split == "train" and rep["files_found"] == 0:
            raise DataError(missing_corpus_message(Path(cfg.data.path), cfg.data.name, cfg.data.splits.train))
        if rep["folder_missing"] or rep["files_read"] == 0:
            what = "folder missing" if rep["folder_missing"] else f"no readable MIDI file ({rep['files_found']} found)"
            others = [s for s in ("train", "valid", "test") if s != split and reports[s]["files_read"] > 0]
            raise DataError(
                f"{folders[split]}: {what}, but {', '.join(keys)} needs it; add MIDI files there or set "
                f"{' / '.join(k.split('=')[0] for k in keys)} to a split that has some ({', '.join(others) or 'none'})"
            )


def run(cfg: Config, manifest: Manifest | Path, out: Path, failed_report: Path = FAILED_PREPARE_REPORT,
        render: bool = True) -> str:
    if not isinstance(manifest, Manifest):
        manifest = Manifest.load(manifest)
    root = Path(cfg.data.path)
    splits = {"train": cfg.data.splits.train, "valid": cfg.data.splits.valid, "test": cfg.data.splits.test}
    listed = {k: v.folder for k, v in manifest.splits.items()}
    if listed != splits:
        raise DataError(f"corpus manifest lists splits {listed}, config has data.splits={splits}; run `dvc repro scan`")
    jobs = effective_jobs(cfg.jobs)
    folders = {split: root / sub for split, sub in splits.items()}
    results, reports = {}, {}
    for split, folder in folders.items():
        sm = manifest.splits[split]
        results[split] = parse_listed(folder, sm, jobs) if not sm.folder_missing else []
        rep = split_report(results[split])
        rep["folder"] = str(folder)
        rep["folder_missing"] = sm.folder_missing
        rep["folders_unreadable"] = list(sm.folders_unreadable)
        reports[split] = rep
    report = {"data": cfg.data.name, "path": str(root), "totals": report_totals(reports), "splits": reports}
    report_path = out / "report.json"
    report["summary"] = summary_line(root, reports)
    try:
        check_failures(reports, folders, cfg.data.max_failed_fraction, failed_report)
        check_required(cfg, folders, reports, render)
    except DataError:
        atomic.write_json(failed_report, report)
        raise
    with atomic.atomic_dir(out) as tmp:
        for split, res in results.items():
            build_split(res).save(tmp / f"{split}.npz")
        atomic.write_json(tmp / "report.json", report)
    return f"{report['summary']}; report {report_path}"
