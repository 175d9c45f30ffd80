"""Step `prepare`: parse every MIDI file of the corpus once; skip, count and report bad ones.

Bad files never stop the stage (they are skipped and counted by reason in
``data/prepared/report.json``), unless more than ``data.max_failed_fraction`` of a split
fails, which means a wrong folder rather than a few bad files. All splits are parsed
before anything is written, and the output folder is swapped in whole, so a killed or
failed run leaves the previous prepared corpus or none, never a mix.
"""

from __future__ import annotations

from pathlib import Path

from neshmm import atomic
from neshmm.config import Config
from neshmm.data.corpus import (
    build_split,
    check_failures,
    effective_jobs,
    find_midi_files,
    missing_corpus_message,
    parse_folder,
    report_totals,
    split_report,
    summary_line,
)
from neshmm.errors import DataError
from neshmm.pipeline.paths import FAILED_PREPARE_REPORT


def run(cfg: Config, out: Path, failed_report: Path = FAILED_PREPARE_REPORT) -> str:
    root = Path(cfg.data.path)
    splits = {"train": cfg.data.splits.train, "valid": cfg.data.splits.valid, "test": cfg.data.splits.test}
    train_dir = root / splits["train"]
    if not train_dir.is_dir() or not find_midi_files(train_dir):
        raise DataError(missing_corpus_message(root, cfg.data.name, splits["train"]))
    jobs = effective_jobs(cfg.jobs)
    folders = {split: root / sub for split, sub in splits.items()}
    results, reports = {}, {}
    for split, folder in folders.items():
        errors: list[str] = []
        results[split] = parse_folder(folder, jobs, errors) if folder.is_dir() else []
        rep = split_report(results[split])
        rep["folder"] = str(folder)
        rep["folder_missing"] = not folder.is_dir()
        rep["folders_unreadable"] = errors
        reports[split] = rep
    report = {"data": cfg.data.name, "path": str(root), "totals": report_totals(reports), "splits": reports}
    report_path = out / "report.json"
    report["summary"] = summary_line(root, reports)
    try:
        check_failures(reports, folders, cfg.data.max_failed_fraction, failed_report)
    except DataError:
        atomic.write_json(failed_report, report)
        raise
    with atomic.atomic_dir(out) as tmp:
        for split, res in results.items():
            build_split(res).save(tmp / f"{split}.npz")
        atomic.write_json(tmp / "report.json", report)
    return f"{report['summary']}; report {report_path}"
