"""Stage `prepare`: parse every MIDI file of the corpus once; skip, count and report bad ones."""

from pathlib import Path

from neshmm import atomic
from neshmm.config import Config
from neshmm.corpus import (
    build_split,
    effective_jobs,
    find_midi_files,
    missing_corpus_message,
    parse_folder,
    split_report,
)
from neshmm.errors import DataError
from stages._common import run

OUT = Path("data/prepared")


def main(cfg: Config) -> None:
    root = Path(cfg.data.path)
    splits = {"train": cfg.data.splits.train, "valid": cfg.data.splits.valid, "test": cfg.data.splits.test}
    train_dir = root / splits["train"]
    if not train_dir.is_dir() or not find_midi_files(train_dir):
        raise DataError(missing_corpus_message(root, cfg.data.name))
    jobs = effective_jobs(cfg.jobs)
    report = {"data": cfg.data.name, "path": str(root), "splits": {}}
    for split, sub in splits.items():
        folder = root / sub
        results = parse_folder(folder, jobs) if folder.is_dir() else []
        rep = split_report(results)
        rep["folder_missing"] = not folder.is_dir()
        found = rep["files_found"]
        failed = found - rep["files_read"]
        if found and failed / found > cfg.data.max_failed_fraction:
            raise DataError(
                f"{folder}: {failed} of {found} files unreadable or empty "
                f"(> data.max_failed_fraction={cfg.data.max_failed_fraction}); is data.path right? "
                f"reasons: {rep['files_skipped']}"
            )
        build_split(results).save(OUT / f"{split}.npz")
        report["splits"][split] = rep
    atomic.write_json(OUT / "report.json", report)
    parts = []
    for split, rep in report["splits"].items():
        skipped = sum(rep["files_skipped"].values())
        parts.append(f"{split} {rep['files_read']}/{rep['files_found']} read ({skipped} skipped)")
    print(f"prepare: {root}: " + "; ".join(parts) + f"; report {OUT / 'report.json'}")


if __name__ == "__main__":
    run(main)
