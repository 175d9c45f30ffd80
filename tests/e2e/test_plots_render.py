"""`dvc plots show` makes one HTML page, and headless Chromium with the network off draws it
(the pitch histograms and the EM convergence curves of every fit).

dvc-render's own page loads vega, vega-lite and vega-embed from a CDN, so offline its vega
plots stay empty; the project's template (``plots.html_template`` in .dvc/config,
neshmm/plots_page.py) inlines them. The plot specs, with their data inline, and the PNG
(copied to ``static/``) are local too, so the page must need no network at all. A control
page with dvc-render's CDN tags instead shows that the browser here really has no network.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from helpers import clone_of, dvc

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
VOICES = ("p1", "p2", "tr", "no")
needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="headless check needs /usr/bin/chromium (apt-get install chromium)"
)


def chromium_offline(page: Path, user_data: Path, budget_ms: int = 10000) -> subprocess.CompletedProcess:
    """``--dump-dom`` of ``page`` after ``budget_ms`` of virtual time, every remote request failing."""
    flags = [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={user_data}", "--allow-file-access-from-files",
        # No network: every host resolves to nothing, and any connection goes to a closed port.
        "--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND",
        f"--virtual-time-budget={budget_ms}", "--dump-dom",
    ]
    return subprocess.run([str(CHROMIUM), *flags, page.as_uri()], capture_output=True, text=True, timeout=180, check=False)


@pytest.fixture(scope="session")
def plots_page(reproduced_repo: Path, tmp_path_factory) -> Path:
    """``dvc_plots/index.html`` as plain ``dvc plots show`` writes it, in a copy of the repo."""
    repo = clone_of(reproduced_repo, tmp_path_factory.mktemp("plots") / "repo")
    dvc(repo, "plots", "show")
    return repo / "dvc_plots" / "index.html"


def specs_in(page: str) -> list[dict]:
    return [json.loads(m) for m in re.findall(r"var spec = (\{.*?\});\n", page, flags=re.DOTALL)]


def spec_by_x(page: str, x: str) -> dict:
    (spec,) = [s for s in specs_in(page) if s["spec"]["encoding"]["x"]["field"] == x]
    return spec


def test_plots_show_writes_one_page_with_the_spec_and_the_png(plots_page: Path):
    page = plots_page.read_text()
    specs = specs_in(page)
    assert len(specs) == 2, "two vega plots (pitch histograms, EM curves)"
    pitch = spec_by_x(page, "pitch")
    values = pitch["data"]["values"]
    assert {v["voice"] for v in values} == set(VOICES)
    assert {v["source"] for v in values} == {"train", "hmm", "markov", "joint", "real_valid"}
    assert pitch["spec"]["encoding"]["y"]["field"] == "probability"
    em = spec_by_x(page, "iteration")
    assert em["spec"]["encoding"]["y"]["field"] == "loglik_per_token"
    # Every HMM fit has a curve; the Markov chains (no EM) contribute no points.
    assert {v["fit"] for v in em["data"]["values"]} == {f"model {v}" for v in VOICES}
    # (outside the inlined scripts: vega-embed's own code holds an `<img src="${...}"`)
    markup = re.sub(r'<script data-package=.*?</script>', "", page, flags=re.DOTALL)
    imgs = re.findall(r'<img src="([^"]+)"', markup)
    assert len(imgs) == 1 and (plots_page.parent / imgs[0]).read_bytes()[:4] == b"\x89PNG"
    # Nothing remote: the three scripts are inlined (and no dvc-render CDN tag is left).
    assert not re.search(r'(src|href)="https?://', page)
    assert [m.group(1) for m in re.finditer(r'<script data-package="([\w-]+)"', page)] == ["vega", "vega-lite", "vega-embed"]


@needs_chromium
def test_chromium_draws_the_vega_plots_offline(plots_page: Path, tmp_path: Path):
    proc = chromium_offline(plots_page, tmp_path / "ud")
    dom = proc.stdout
    assert "<html" in dom and "</html>" in dom, proc.stderr[-2000:]
    assert re.search(r'<img src="static/[^"]+\.png"', dom)
    # The template asks vega-embed for SVG, so what was drawn is in the DOM: one chart per
    # vega-embed container.
    assert len(re.findall(r'<svg[^>]*class="marks"', dom)) == 2, "vega did not draw: " + proc.stderr[-2000:]
    assert len(re.findall(r'<div[^>]*class="vega-embed', dom)) == 2
    texts = set(re.findall(r"<text[^>]*>([^<]+)</text>", dom))
    assert {"train", "hmm", "markov", "real_valid"} <= texts  # legend
    assert set(VOICES) <= texts  # one panel per voice
    # The EM curves: one panel per HMM fit, drawn as lines.
    assert {f"model {v}" for v in VOICES} <= texts
    assert {"EM iteration", "training log-likelihood per token"} <= texts
    assert len(re.findall(r'aria-roledescription="line mark"', dom)) >= 4 * 4 + 4


@needs_chromium
def test_the_cdn_page_draws_nothing_in_the_same_browser(plots_page: Path, tmp_path: Path):
    """The control: with dvc-render's CDN tags in place of the inlined scripts, nothing draws,
    so the browser of the test above really had no network to fetch them from."""
    from dvc_render.vega import VegaRenderer

    page = plots_page.read_text(encoding="utf-8")
    cdn, n = re.subn(r'<script data-package=.*?</script>\n', "", page, flags=re.DOTALL)
    assert n == 3
    cdn = cdn.replace("<title>", VegaRenderer.SCRIPTS + "<title>")
    control = plots_page.with_name("index_cdn.html")
    control.write_text(cdn, encoding="utf-8")
    dom = chromium_offline(control, tmp_path / "ud", budget_ms=5000).stdout
    assert "</html>" in dom and 'src="https://cdn.jsdelivr.net/npm/vega@' in dom
    assert not re.search(r'class="marks"', dom)
