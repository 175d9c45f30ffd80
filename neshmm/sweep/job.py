"""One sweep job: train -> sample -> score one configuration, into its Hydra job folder.

The job calls the very pipeline steps `dvc repro` runs (neshmm.pipeline, each taking its
folders), with every folder either in the cache or in the job's own folder, so a sweep
never changes params.yaml, models/, samples/ or metrics/. Inputs are reused through the
cache: the corpus is parsed once per data config and tokenized once per tokenize config,
and a job whose full resolved config already finished is not run again.

Files in the job folder: result.json (written last, atomically: it exists only for a
finished job) or error.json (one line: a user error, or a crash whose traceback is in
pipeline.log), pipeline.log (what the stages printed), and copies of models/, samples/,
logs/ from the cache entry. A failed job never stops the other jobs of a sweep.
"""

from __future__ import annotations

import contextlib
import json
import math
import shutil
import sys
import time
import traceback
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import yaml
from omegaconf import DictConfig

from neshmm import atomic
from neshmm.config import ROLES, Config
from neshmm.data.demo_corpus import generate_corpus
from neshmm.errors import NeshmmError
from neshmm.sweep.cache import Cache, code_version, digest, folder_manifest
from neshmm.sweep.scoring import score_run
from neshmm.sweep.settings import split_config
from neshmm.pipeline import prepare, sample, tokenize, train
from neshmm.pipeline.paths import Paths

# Config keys a sweep job never reads; changing them must not recompute finished jobs.
NOT_IN_KEY = ("jobs", "render")
RESULT, ERROR, LOG = "result.json", "error.json", "pipeline.log"


@dataclass
class JobContext:
    root: Path  # the folder the sweep was started from (the project root)
    job_dir: Path
    num: int
    overrides: list[str]

    @property
    def label(self) -> str:
        return " ".join(self.overrides) or "(defaults)"


def hydra_context() -> JobContext:
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf

    hc = HydraConfig.get()
    num = OmegaConf.select(hc, "job.num", default=0, throw_on_missing=False)
    return JobContext(Path(hc.runtime.cwd), Path(hc.runtime.output_dir), int(num or 0), list(hc.overrides.task))


def run_job(cfg: DictConfig, ctx: JobContext | None = None) -> float:
    """Run one job; return its objective (mean held-out log-lik per beat, NaN on failure)."""
    ctx = ctx or hydra_context()
    ctx.job_dir.mkdir(parents=True, exist_ok=True)
    for name in (RESULT, ERROR):  # a re-used job folder must show this run's outcome only
        (ctx.job_dir / name).unlink(missing_ok=True)
    t0 = time.perf_counter()
    try:
        settings, config, ignored = split_config(cfg)
        cache = Cache((ctx.root / settings.cache_dir).resolve())
        with open(ctx.job_dir / LOG, "a", encoding="utf-8") as log:
            with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
                result = run_pipeline(config, cache, ctx, ignored)
    except NeshmmError as exc:  # a user error: the message says what to change
        return failed(ctx, str(exc))
    except Exception as exc:  # a crash must not stop the other jobs of the sweep
        with open(ctx.job_dir / LOG, "a", encoding="utf-8") as log:
            traceback.print_exc(file=log)
        return failed(ctx, f"{type(exc).__name__}: {exc} (traceback in {ctx.job_dir / LOG})")
    print(progress_line(result, time.perf_counter() - t0), flush=True)
    return math.nan if result["objective"] is None else float(result["objective"])


def failed(ctx: JobContext, message: str) -> float:
    error = {"status": "failed", "job": ctx.num, "overrides": ctx.overrides, "error": message}
    atomic.write_json(ctx.job_dir / ERROR, error)
    print(f"job {ctx.num} [{ctx.label}] failed: {message}", file=sys.stderr, flush=True)
    return math.nan


def run_pipeline(config: Config, cache: Cache, ctx: JobContext, ignored: list[str]) -> dict:
    tokens, tokens_key = token_entry(config, ctx.root, cache)
    run_config = {k: v for k, v in asdict(config).items() if k not in NOT_IN_KEY}
    inputs = {"tokens": tokens_key, "config": run_config}
    entry, cached = cache.ensure("runs", digest(inputs), inputs, lambda d: build_run(config, tokens, d))
    print(f"sweep: {'reused' if cached else 'computed'} {entry}")
    shutil.copytree(entry, ctx.job_dir, dirs_exist_ok=True)
    figures = json.loads((entry / "figures.json").read_text())
    result = {
        "status": "ok",
        "job": ctx.num,
        "overrides": ctx.overrides,
        "cached": cached,
        "ignored": ignored,
        "cache_entry": str(entry),
        "config": run_config,
        **figures,
    }
    atomic.write_json(ctx.job_dir / RESULT, result)
    return result


def stage_params(root: Path, stage: str, config: dict) -> dict:
    """The config values the DVC stage ``stage`` declares as params, so a cached entry is
    invalidated exactly when `dvc repro` would rerun that stage (all of it if unknown)."""
    try:
        declared = yaml.safe_load((root / "dvc.yaml").read_text())["stages"][stage]["params"]
    except (OSError, KeyError, TypeError):
        return config
    keys = []
    for entry in declared:
        if isinstance(entry, dict):  # {params file: [keys]}; a whole file means everything
            if any(not isinstance(v, list) for v in entry.values()):
                return config
            keys += [k for v in entry.values() for k in v]
        else:
            keys.append(entry)
    out = {}
    for key in keys:
        node = config
        for part in str(key).split("."):
            node = node.get(part) if isinstance(node, dict) else None
        out[key] = node
    return out


def token_entry(config: Config, root: Path, cache: Cache) -> tuple[Path, str]:
    """The cached token folder of ``config`` (corpus, prepared notes, tokens built as needed)."""
    code = code_version()
    if Path(config.data.path) == Path(config.demo.out):
        # The demo stage's output may be absent or stale (it is a DVC output); the demo
        # corpus is a pure function of the demo config, so it is generated into the cache.
        demo = {k: v for k, v in asdict(config.demo).items() if k != "out"}
        corpus_inputs = {"demo": demo, "code": code}
        corpus, _ = cache.ensure("corpus", digest(corpus_inputs), corpus_inputs, lambda d: generate_corpus(d, **demo))
    else:
        corpus = (root / config.data.path).resolve()
        corpus_inputs = {"path": str(corpus), "code": code}
    data = replace(config.data, path=str(corpus))
    # The same manifest `dvc repro` scans: names, sizes and content hashes of the files, the
    # unusable ones with their reason (a FIFO or a broken symlink never breaks the key).
    manifest = folder_manifest(corpus, data, cache)
    resolved = asdict(replace(config, data=data))
    # data.path is replaced by what identifies the corpus: the demo config or the files;
    # render keys never reach a sweep job (it does not render).
    prep_params = {k: v for k, v in stage_params(root, "prepare", resolved).items()
                   if k != "data.path" and not k.startswith("render.")}
    prep_inputs = {"corpus": digest(corpus_inputs), "files": manifest.fingerprint(), "params": prep_params}
    prepared, _ = cache.ensure(
        "prepared", digest(prep_inputs), prep_inputs,
        lambda d: prepare.run(replace(config, data=data), manifest=manifest, out=d, render=False),
    )
    tok_inputs = {"prepared": digest(prep_inputs), "params": stage_params(root, "tokenize", resolved)}
    key = digest(tok_inputs)
    tokens, _ = cache.ensure("tokens", key, tok_inputs, lambda d: tokenize.run(config, prepared=prepared, out=d))
    return tokens, key


def build_run(config: Config, tokens: Path, out: Path) -> None:
    paths = Paths(out)
    for role in ROLES:
        for voice in config.voices:
            print(train.run(config, voice, role, tokens, paths.model_file(role, voice), paths.fit_log(role, voice),
                            paths.train_metrics(role, voice), paths.em_curve(role, voice)))
    print(sample.run(config, models=paths.models, tokens_dir=tokens, out=paths.samples, joint=False))
    figures = score_run(config, tokens, paths)
    atomic.write_json(out / "figures.json", figures)


def _fmt(x, spec: str) -> str:
    return "n/a" if x is None else format(x, spec)


def progress_line(result: dict, seconds: float) -> str:
    """One line per finished job: its figures per voice, fit time, convergence."""
    voices = result["voices"]
    model = {v: voices[v].get("model", {}) for v in result["config"]["voices"] if v in voices}
    ll = " ".join(f"{v} {_fmt(m.get('heldout_loglik_per_beat'), '.3f')}" for v, m in model.items())
    kl = " ".join(f"{v} {_fmt(m.get('kl_pitch'), '.4f')}" for v, m in model.items())
    tail = "reused from cache" if result["cached"] else f"{seconds:.1f} s"
    label = " ".join(result["overrides"]) or "(defaults)"
    return (
        f"job {result['job']} [{label}]: held-out log-lik/beat {ll} (mean {_fmt(result['objective'], '.3f')})"
        f" | KL pitch {kl} | fit {result['fit_seconds']:.2f} s, converged {result['converged']}/{result['trained']}"
        f" | {tail}"
    )
