"""The sweep as a picture: each metric against n_components per voice, and their trade-off.

Row 1: held-out log-likelihood per beat; row 2: KL(train || generated) of pitch; one
column per voice, one curve per group of jobs that differ only in n_components, the
Markov baseline as a dashed line (models without states, e.g. `model=markov`, dotted).
Row 3 puts the two metrics against each other (up-left is better) to show the trade-off.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from neshmm import atomic

METRICS = (("loglik", "held-out log-lik / beat (higher = better)"), ("kl", "KL(train || gen), pitch (lower = better)"))


def plot_summary(summary, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok, voices, base = summary.ok, summary.voices, summary.baseline
    with_n = ok[ok["n_components"].notna()]
    without_n = ok[ok["n_components"].isna()].drop_duplicates("group")
    groups = sorted(with_n["group"].unique())
    colors = {g: f"C{i % 10}" for i, g in enumerate(groups + sorted(without_n["group"].unique()))}
    fig, axes = plt.subplots(3, len(voices), figsize=(3.4 * len(voices) + 0.6, 9.5), squeeze=False)
    for col, v in enumerate(voices):
        for row, (metric, ylabel) in enumerate(METRICS):
            ax = axes[row][col]
            for g in groups:
                d = with_n[with_n["group"] == g].sort_values("n_components")
                x, y = d["n_components"].astype(float), d[f"{metric}_{v}"].astype(float)
                ax.plot(x, y, "o-", color=colors[g], label=g)
            for r in without_n.itertuples():
                ax.axhline(getattr(r, f"{metric}_{v}"), color=colors[r.group], ls=":", label=r.group)
            if v in base[metric]:
                ax.axhline(base[metric][v], color="0.4", ls="--", label=f"baseline ({base['name']})")
            if len(with_n):
                ax.set_xscale("log", base=2)
                ax.set_xlabel("n_components")
            ax.set_title(f"{v}", fontsize=10)
            if col == 0:
                ax.set_ylabel(ylabel, fontsize=8)
            ax.grid(alpha=0.3)
        ax = axes[2][col]
        for g in groups + list(without_n["group"]):
            d = ok[ok["group"] == g]
            ax.scatter(d[f"loglik_{v}"].astype(float), d[f"kl_{v}"].astype(float), color=colors[g], s=22)
            for r in d.itertuples():
                if pd.notna(r.n_components):
                    ax.annotate(str(r.n_components), (getattr(r, f"loglik_{v}"), getattr(r, f"kl_{v}")), fontsize=7,
                                xytext=(3, 3), textcoords="offset points")
        if v in base["loglik"] and v in base["kl"]:
            ax.scatter([base["loglik"][v]], [base["kl"][v]], marker="*", s=90, color="0.4")
        ax.set_xlabel("held-out log-lik / beat", fontsize=8)
        if col == 0:
            ax.set_ylabel("KL pitch (labels: n_components)", fontsize=8)
        ax.grid(alpha=0.3)
    handles, labels = {}, []
    for ax in axes[:2].ravel():
        for h, label in zip(*ax.get_legend_handles_labels()):
            if label not in handles:
                handles[label] = h
                labels.append(label)
    fig.legend([handles[k] for k in labels], labels, loc="lower center", ncol=min(4, len(labels)), fontsize=8)
    best = summary.best()
    title = "Sweep: held-out log-likelihood and KL per voice"
    if best is not None:
        title += f" (best: job {best['job']}, {best['overrides']})"
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0.06, 1, 0.97))
    with atomic.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
