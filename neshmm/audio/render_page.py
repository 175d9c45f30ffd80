"""The static HTML page that lists every rendered piece: picture, audio player, metrics, config.

One self-contained file with relative links, so it opens from the file system (``file://``)
or from any static web server without a build step. Every value is HTML-escaped; the page
contains no dates or timings, so it changes only when what it shows changes.
"""

from __future__ import annotations

import html
import json

from neshmm.data.voices import VOICES

# Columns of the per-model metrics table (keys of metrics/kl.json), with their CI if any.
METRIC_COLUMNS = ("kl_pitch", "kl_duration", "kl_velocity", "kl_interval", "kl_rest_ratio")

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; max-width: 1500px; }
h1 { margin-bottom: 0.2em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.9em; }
td, th { border: 1px solid #ccc; padding: 2px 8px; text-align: right; }
th { background: #f4f4f4; } td:first-child, th:first-child { text-align: left; }
.grid { display: flex; flex-wrap: wrap; gap: 1em; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: 0.6em; width: 580px; }
.card img { width: 100%; } .card audio { width: 100%; } .muted { color: #777; font-size: 0.85em; }
pre { background: #f7f7f7; padding: 0.5em; font-size: 0.85em; }
"""


def _e(x) -> str:
    return html.escape(str(x), quote=True)


def _fmt(x) -> str:
    if isinstance(x, float):
        return f"{x:.4g}"
    return str(x)


def _table(header: list[str], rows: list[list]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_e(_fmt(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def metrics_table(kl: dict | None, model: str) -> str:
    if kl is None:
        return '<p class="muted">No metrics/kl.json yet: run <code>dvc repro evaluate</code>.</p>'
    rows = []
    for voice in VOICES:
        by_model = kl.get(voice, {}).get(model)
        if by_model is None:
            continue
        row = [voice]
        for key in METRIC_COLUMNS:
            value, low, high = (by_model.get(k) for k in (key, f"{key}_ci_low", f"{key}_ci_high"))
            ci = f" [{low:.4g}, {high:.4g}]" if low is not None and high is not None else ""
            row.append("" if value is None else f"{value:.4g}{ci}")
        rows.append(row)
    if not rows:
        return f'<p class="muted">metrics/kl.json has no entry for model {_e(model)}.</p>'
    return (
        '<p class="muted">KL(reference || generated), mean over pieces [95% CI] (metrics/kl.json)</p>'
        + _table(["voice", *METRIC_COLUMNS], rows)
    )


def _config_block(model: dict) -> str:
    config = {k: v for k, v in model.items() if not k.startswith("_")}
    fit = model.get("_fit", {})
    keys = sorted({k for f in fit.values() for k in f})
    fit_rows = [[voice, *[f.get(k, "") for k in keys]] for voice, f in fit.items()]
    return (
        f"<pre>{_e(json.dumps(config, indent=1, sort_keys=True))}</pre>"
        + (_table(["voice", *keys], fit_rows) if fit_rows else "")
    )


def _card(entry: dict) -> str:
    notes = ", ".join(f"{v} {n}" for v, n in entry["notes"].items())
    tokens = entry.get("tokens")
    extra = f" · tokens: {', '.join(f'{v} {n}' for v, n in tokens.items())}" if tokens else ""
    clipped = f" · {entry['clipped_samples']} samples clipped" if entry.get("clipped_samples") else ""
    return (
        f'<div class="card" id="{_e(entry["key"])}"><b>{_e(entry["key"])}</b>'
        f'<img src="{_e(entry["png"])}" alt="piano roll of {_e(entry["key"])}">'
        f'<audio controls preload="none" src="{_e(entry["wav"])}"></audio>'
        f'<div class="muted">{_e(entry["source"])} · {entry["seconds"]:.1f} s · peak {entry["peak"]:.2f}{_e(clipped)}'
        f"<br>notes: {_e(notes)}{_e(extra)}</div></div>"
    )


def page(
    entries: list[dict],
    sample_index: dict,
    models: dict[str, dict],
    kl: dict | None,
    render_config: dict,
    compare_png: str | None,
    provenance: dict | None = None,
) -> str:
    """The page; ``provenance`` (dataset, splits, config hash) is shown first so a page
    copied or opened later still says what it shows."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8"><title>neshmm: rendered samples</title>',
        f"<style>{STYLE}</style></head><body>",
        "<h1>neshmm: rendered samples</h1>",
        '<p class="muted">Generated pieces and real reference pieces, synthesized with an NES APU model '
        "(pulse duty cycles, 4-bit triangle, LFSR noise, non-linear mixer). Made by <code>dvc repro render</code>.</p>",
        _table(["what this page shows", "value"], [[k, v] for k, v in (provenance or {}).items()]) if provenance else "",
        _table(
            ["sampling", "value"],
            [[k, sample_index[k]] for k in ("beats", "seed", "ticks_per_beat") if k in sample_index],
        ),
        _table(["render", "value"], [[k, json.dumps(v, sort_keys=True)] for k, v in sorted(render_config.items())]),
    ]
    if compare_png:
        parts.append(f'<h2>Real vs generated</h2><img src="{_e(compare_png)}" alt="real and generated piano rolls" style="max-width:100%">')
    roles = list(dict.fromkeys(e["role"] for e in entries if e.get("role")))  # in render.roles order
    for role in roles:
        model = models.get(role, {})
        name = model.get("name", sample_index["roles"][role].get("model", role))
        skipped = sample_index["roles"][role].get("skipped_voices") or {}
        parts.append(f'<h2 id="role-{_e(role)}">{_e(role)}: {_e(name)}</h2>')
        if skipped:
            parts.append(f'<p class="muted">voices not modelled: {_e(json.dumps(skipped, sort_keys=True))}</p>')
        parts.append(metrics_table(kl, name))
        parts.append(_config_block(model))
        parts.append('<div class="grid">' + "".join(_card(e) for e in entries if e.get("role") == role) + "</div>")
    refs = [e for e in entries if e["kind"] == "reference"]
    if refs:
        parts.append('<h2 id="reference">Real pieces (reference)</h2>')
        for control in sorted({k for by in (kl or {}).values() for k in by if k.startswith("real_")}):
            parts.append(f'<p class="muted">Control {_e(control)}: the same scores for real held-out pieces</p>')
            parts.append(metrics_table(kl, control))
        parts.append('<div class="grid">' + "".join(_card(e) for e in refs) + "</div>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
