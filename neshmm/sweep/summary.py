"""One table (CSV + Markdown) and one plot for a sweep: a row per job, the best one named.

"Best" is by mean held-out log-likelihood per beat (never training likelihood, which
only grows with the number of states). Likelihood and KL(train || generated) can disagree,
so the summary also marks the Pareto front: jobs no other job beats on both at once.
The Markov chain trained in every job (role `baseline`) is the reference level.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import OmegaConf

from neshmm import atomic

RESULT, ERROR = "result.json", "error.json"
STATE_KEYS = ("model.n_components=", "+model.n_components=", "++model.n_components=")
# Overrides that never change a job's figures (sweep settings, Hydra's own).
NOT_A_GROUP = ("sweep.", "+sweep.", "++sweep.", "hydra.", "hydra/")


def job_number(job_dir: Path) -> int:
    if job_dir.name.isdigit():
        return int(job_dir.name)
    num = OmegaConf.select(OmegaConf.load(job_dir / ".hydra" / "hydra.yaml"), "hydra.job.num", default=0)
    return int(num or 0)


def read_jobs(sweep_dir: Path) -> list[dict]:
    """One record per Hydra job folder under ``sweep_dir``: finished, failed or unfinished.

    A job folder without result.json and error.json was interrupted (or is still running);
    it is listed as such, so a partial sweep can be summarized and then resumed.
    """
    records = []
    for hydra_dir in sweep_dir.rglob(".hydra"):
        job_dir = hydra_dir.parent
        overrides = list(OmegaConf.load(hydra_dir / "overrides.yaml") or [])
        if (job_dir / RESULT).exists():
            rec = json.loads((job_dir / RESULT).read_text())
        elif (job_dir / ERROR).exists():
            rec = json.loads((job_dir / ERROR).read_text())
        else:
            rec = {"status": "unfinished"}
        rec.setdefault("overrides", overrides)
        rec.setdefault("job", job_number(job_dir))
        rec["dir"] = job_dir.relative_to(sweep_dir).as_posix() or "."
        records.append(rec)
    return sorted(records, key=lambda r: (r["job"], r["dir"]))


def shown_overrides(rec: dict) -> str:
    """The overrides that made the job what it is (no sweep/Hydra settings, no ignored keys)."""
    ignored = tuple(f"{k}=" for k in rec.get("ignored", []))
    kept = [o for o in rec["overrides"] if not o.startswith(NOT_A_GROUP) and not o.lstrip("+").startswith(ignored)]
    return " ".join(kept) or "(defaults)"


def group_label(overrides: list[str], model: str | None) -> str:
    """What a curve over n_components is: the job's overrides other than the state count."""
    rest = [o for o in overrides if not o.startswith(STATE_KEYS + NOT_A_GROUP)]
    return " ".join(rest) or (model or "?")


def _voices(records: list[dict]) -> list[str]:
    out: list[str] = []
    for r in records:
        for v in r.get("config", {}).get("voices", []):
            if v not in out:
                out.append(v)
    return out


def _figure(rec: dict, voice: str, role: str, key: str):
    f = rec.get("voices", {}).get(voice, {}).get(role, {})
    return None if f.get("skipped") else f.get(key)


def table(records: list[dict], voices: list[str]) -> pd.DataFrame:
    rows = []
    named = any("name" in r for r in records)  # DVC experiments have names, Hydra jobs numbers
    for r in records:
        model = r.get("config", {}).get("model", {})
        ok = r["status"] == "ok"
        row = {"job": r["job"]}
        if named:
            row["name"] = r.get("name")
        row |= {
            "overrides": shown_overrides(r),
            "status": r["status"],
            "model": model.get("name"),
            "n_components": model.get("n_components"),
            "n_iter": model.get("n_iter"),
            "emission_prior": model.get("emission_prior"),
            "n_init": model.get("n_init"),
        }
        for v in voices:
            row[f"loglik_{v}"] = _figure(r, v, "model", "heldout_loglik_per_beat")
            lo, hi = (_figure(r, v, "model", f"heldout_loglik_per_beat_{side}") for side in ("low", "high"))
            row[f"loglik_{v}_ci"] = f"[{lo:.3f}, {hi:.3f}]" if lo is not None and hi is not None else None
        row["loglik_mean"] = r.get("model_heldout_loglik_per_beat_mean")
        for v in voices:
            row[f"kl_{v}"] = _figure(r, v, "model", "kl_pitch")
        row["kl_mean"] = r.get("model_kl_pitch_mean")
        for v in voices:
            row[f"bic_{v}"] = _figure(r, v, "model", "bic")
        row["fit_s"] = r.get("fit_seconds")
        row["converged"] = f"{r['converged']}/{r['trained']}" if ok else None
        row["cached"] = r.get("cached") if ok else None
        row["ignored"] = " ".join(r.get("ignored", [])) or None
        row["error"] = r.get("error")
        row["group"] = group_label(r["overrides"], model.get("name"))
        rows.append(row)
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    for col in ("n_components", "n_iter", "n_init"):
        df[col] = df[col].astype("Int64")
    df["pareto"] = pareto_front(df)
    return df


def pareto_front(df: pd.DataFrame) -> list[bool]:
    """True for jobs that no other job beats on both held-out log-lik (up) and KL (down)."""
    ll, kl = df["loglik_mean"].to_numpy(dtype=float), df["kl_mean"].to_numpy(dtype=float)
    valid = (df["status"] == "ok").to_numpy() & np.isfinite(ll) & np.isfinite(kl)
    out = []
    for i in range(len(df)):
        if not valid[i]:
            out.append(False)
            continue
        better = valid & (ll >= ll[i]) & (kl <= kl[i]) & ((ll > ll[i]) | (kl < kl[i]))
        out.append(not better.any())
    return out


def baseline_levels(records: list[dict], voices: list[str]) -> dict:
    """Per voice, the baseline's held-out log-lik and KL (mean over jobs) and its name."""
    ok = [r for r in records if r["status"] == "ok"]
    out: dict = {"name": None, "loglik": {}, "kl": {}, "varies": False}
    for r in ok:
        out["name"] = out["name"] or r.get("config", {}).get("baseline", {}).get("name")
    for metric, key in (("loglik", "heldout_loglik_per_beat"), ("kl", "kl_pitch")):
        for v in voices:
            vals = [x for r in ok if (x := _figure(r, v, "baseline", key)) is not None]
            if vals:
                out[metric][v] = float(np.mean(vals))
                out["varies"] |= (max(vals) - min(vals)) > 1e-9
    return out


@dataclass
class Summary:
    source: str  # the sweep folder, or "dvc exp show"
    df: pd.DataFrame
    voices: list[str]
    baseline: dict
    heldout: str = "valid"
    files: list[Path] = field(default_factory=list)

    @property
    def ok(self) -> pd.DataFrame:
        return self.df[self.df["status"] == "ok"] if not self.df.empty else self.df

    def best(self, column: str = "loglik_mean", largest: bool = True) -> pd.Series | None:
        ok = self.ok.dropna(subset=[column]) if not self.ok.empty else self.ok
        if ok.empty:
            return None
        return ok.loc[ok[column].idxmax() if largest else ok[column].idxmin()]

    def counts(self) -> dict[str, int]:
        status = self.df["status"] if not self.df.empty else pd.Series(dtype=object)
        return {s: int((status == s).sum()) for s in ("ok", "failed", "unfinished")}

    def headline(self) -> str:
        c = self.counts()
        head = (f"sweep {self.source}: {len(self.df)} jobs, {c['ok']} finished, {c['failed']} failed, "
                f"{c['unfinished']} unfinished")
        best = self.best()
        if best is None:
            return head + "; no finished job"
        return (
            f"{head}; best by held-out log-likelihood: job {best['job']} [{best['overrides']}] "
            f"{best['loglik_mean']:.4f}/beat (KL {_num(best['kl_mean'])})"
        )

    def markdown(self) -> str:
        head = self.headline().replace(f"sweep {self.source}:", f"Sweep `{self.source}`:")
        lines = ["# Sweep summary", "", head + ".", ""]
        best, low_kl = self.best(), self.best("kl_mean", largest=False)
        if best is not None:
            lines.append(
                f"- **Best configuration** (highest mean held-out log-likelihood per beat on `{self.heldout}`, "
                f"not training likelihood): job {best['job']}, `{best['overrides']}`: "
                f"{best['loglik_mean']:.4f}, KL {_num(best['kl_mean'])}; per voice with 95% CI over "
                f"held-out files: " + ", ".join(
                    f"{v} {_num(best.get(f'loglik_{v}'))} {best.get(f'loglik_{v}_ci') or ''}".rstrip()
                    for v in self.voices
                ) + ". Configurations whose intervals overlap the best one's are not shown to be worse."
            )
        if low_kl is not None:
            lines.append(
                f"- Lowest mean KL(train || generated) of pitch: job {low_kl['job']}, `{low_kl['overrides']}`: "
                f"{_num(low_kl['kl_mean'])}, held-out log-likelihood {_num(low_kl['loglik_mean'])}."
            )
        if best is not None:
            models = self.ok.dropna(subset=["loglik_mean"])["model"].unique()
            if len(models) > 1:  # e.g. model=hmm,markov: the best of each type as well
                for name in models:
                    b = self.ok[self.ok["model"] == name].dropna(subset=["loglik_mean"])
                    b = b.loc[b["loglik_mean"].idxmax()]
                    lines.append(f"- Best `{name}`: job {b['job']}, `{b['overrides']}`: {b['loglik_mean']:.4f}, "
                                 f"KL {_num(b['kl_mean'])}.")
            front = self.ok[self.ok["pareto"]].sort_values(["loglik_mean", "job"], ascending=[False, True])
            # Jobs with equal figures (e.g. Markov jobs of a grid, one cached run) share an entry.
            same = front.groupby(["loglik_mean", "kl_mean"], sort=False)["job"].apply(list)
            pts = "; ".join(
                f"{'jobs' if len(jobs) > 1 else 'job'} {', '.join(map(str, jobs))} ({_num(ll)}, {_num(kl)})"
                for (ll, kl), jobs in same.items()
            )
            lines.append(
                "- Trade-off: Pareto front (no other job has both a higher log-likelihood and a lower KL), "
                f"as (log-lik, KL): {pts}. Column `pareto` marks them."
            )
        b = self.baseline
        if b["loglik"]:
            per = ", ".join(
                f"{v} {b['loglik'][v]:.4f} / KL {_num(b['kl'].get(v))}" for v in self.voices if v in b["loglik"]
            )
            note = " (differs between jobs; mean shown)" if b["varies"] else ""
            lines.append(f"- Reference: the `{b['name']}` baseline trained in every job{note}: {per}.")
        ignored = self.ok.dropna(subset=["ignored"]) if "ignored" in self.ok else self.ok.iloc[:0]
        for keys, jobs in ignored.groupby("ignored")["job"].apply(list).items():
            lines.append(f"- Not settings of their model type, hence ignored: `{keys}` "
                         f"(jobs {', '.join(map(str, jobs))}); jobs with equal settings share one cached run.")
        failed = self.df[self.df["status"] != "ok"] if not self.df.empty else self.df
        for r in failed.itertuples():
            why = f": {r.error}" if isinstance(r.error, str) else ""
            lines.append(f"- job {r.job} `{r.overrides}`: {r.status}{why}")
        lines += ["", "Columns: `loglik_<voice>` held-out log-likelihood per beat of the swept model, "
                  "`kl_<voice>` KL(train || generated) of the pitch histogram (mean over samples), "
                  "`bic_<voice>` BIC of the training fit (-2 log L + p ln N, lower is better; not the ranking), "
                  "`fit_s` total fit seconds, `converged` voices whose EM converged / voices trained, "
                  "`cached` reused from the sweep cache, `ignored` overrides the job's model type does not have.", ""]
        shown = self.df.drop(columns=["group", "error"]) if not self.df.empty else self.df
        shown = shown.astype(object).where(shown.notna(), None)
        lines.append(shown.to_markdown(index=False, floatfmt=".4f", missingval=""))
        return "\n".join(lines) + "\n"


def _num(x) -> str:
    return "n/a" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.4f}"


def build(records: list[dict], source: str) -> Summary:
    voices = _voices(records)
    configs = [r["config"] for r in records if r.get("config", {}).get("evaluate")]
    # Sweeps score on the tuning split (neshmm.sweep.scoring.tuning_config).
    heldout = configs[0].get("data", {}).get("tune_split", "valid") if configs else "valid"
    return Summary(source, table(records, voices), voices, baseline_levels(records, voices), heldout)


def summarize(sweep_dir: Path) -> Summary:
    return build(read_jobs(Path(sweep_dir)), str(sweep_dir))


def write_summary(sweep_dir: Path, out_dir: Path | None = None) -> Summary:
    """Summarize a Hydra sweep folder into ``out_dir`` (default: the folder itself)."""
    return write(summarize(sweep_dir), Path(out_dir or sweep_dir))


def write(s: Summary, out_dir: Path) -> Summary:
    """Write summary.csv, summary.md and summary.png (atomically) and return the summary."""
    from neshmm.sweep.plot import plot_summary

    csv = s.df.drop(columns=["group"]) if not s.df.empty else s.df  # keeps `error`
    atomic.write_text(out_dir / "summary.csv", csv.to_csv(index=False, float_format="%.6g"))
    atomic.write_text(out_dir / "summary.md", s.markdown())
    s.files = [out_dir / "summary.csv", out_dir / "summary.md"]
    if not s.ok.empty:
        plot_summary(s, out_dir / "summary.png")
        s.files.append(out_dir / "summary.png")
    return s
