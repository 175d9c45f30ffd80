"""`dvc plots show` makes one HTML page, and headless Chromium renders it (the pitch
histograms and the EM convergence curves of every fit).

What dvc-render emits: the page loads vega, vega-lite and vega-embed from a CDN
(``<script src="https://cdn.jsdelivr.net/...">``, fixed in dvc_render.vega.VegaRenderer);
the plot specs, with their data inline, and the PNG (copied to ``static/``) are local.
Without network the vega plots stay empty but the PNG still shows. To check that the
Vega-Lite spec really draws, the test points those three tags at local copies of the same
versions (``$VEGA_JS_DIR``, else fetched once with ``npm pack`` from the npm registry)
and reads the SVG the page builds. Steps that cannot run here skip with the reason.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from helpers import dvc

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
VOICES = ("p1", "p2", "tr", "no")
VEGA_FILES = {"vega": "vega.min.js", "vega-lite": "vega-lite.min.js", "vega-embed": "vega-embed.min.js"}


def cdn_scripts() -> dict[str, tuple[str, str]]:
    """{package: (url, version)} as dvc-render writes them into the page."""
    from dvc_render.vega import VegaRenderer

    found = re.findall(r'src="(https://cdn\.jsdelivr\.net/npm/([\w-]+)@([\d.]+))"', VegaRenderer.SCRIPTS)
    return {pkg: (url, version) for url, pkg, version in found}


def chromium(*args: str, user_data: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    flags = [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={user_data}", "--allow-file-access-from-files",
    ]
    return subprocess.run([str(CHROMIUM), *flags, *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def plots_page(reproduced_repo: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("plots") / "dvc_plots"
    dvc(reproduced_repo, "plots", "show", "-o", str(out))
    return out / "index.html"


@pytest.fixture(scope="session")
def vega_js(tmp_path_factory) -> Path:
    """A folder with the vega, vega-lite and vega-embed builds dvc-render links to."""
    scripts = cdn_scripts()
    given = os.environ.get("VEGA_JS_DIR")
    if given:
        d = Path(given)
        if all((d / f).is_file() for f in VEGA_FILES.values()):
            return d
        pytest.skip(f"VEGA_JS_DIR={given} lacks {sorted(VEGA_FILES.values())}")
    if shutil.which("npm") is None:
        pytest.skip("no local vega build: set VEGA_JS_DIR or install npm to fetch one")
    d = tmp_path_factory.mktemp("vega_js")
    specs = [f"{pkg}@{version}" for pkg, (_, version) in scripts.items()]
    try:
        proc = subprocess.run(["npm", "pack", "--silent", *specs], cwd=d, capture_output=True, text=True, timeout=180)
    except subprocess.TimeoutExpired:
        pytest.skip("npm pack of the vega builds timed out (no registry access?)")
    if proc.returncode != 0:
        pytest.skip(f"npm pack {' '.join(specs)} failed: {proc.stderr.strip().splitlines()[-1:]}")
    for tgz in d.glob("*.tgz"):
        pkg = tgz.name.rsplit("-", 1)[0]
        with tarfile.open(tgz) as tar:
            member = tar.getmember(f"package/build/{VEGA_FILES[pkg]}")
            (d / VEGA_FILES[pkg]).write_bytes(tar.extractfile(member).read())
    return d


def specs_in(page: str) -> list[dict]:
    return [json.loads(m) for m in re.findall(r"var spec = (\{.*?\});\n", page, flags=re.S)]


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
    imgs = re.findall(r'<img src="([^"]+)"', page)
    assert len(imgs) == 1 and (plots_page.parent / imgs[0]).read_bytes()[:4] == b"\x89PNG"
    # The only remote references are dvc-render's three script tags.
    remote = set(re.findall(r'src="(https?://[^"]+)"', page))
    assert remote == {url for url, _ in cdn_scripts().values()}


@pytest.mark.skipif(not CHROMIUM.exists(), reason="headless check needs /usr/bin/chromium (apt-get install chromium)")
def test_chromium_loads_the_page_offline(plots_page: Path, tmp_path: Path):
    proc = chromium("--virtual-time-budget=5000", "--dump-dom", plots_page.as_uri(), user_data=tmp_path / "ud")
    dom = proc.stdout
    assert "<html" in dom and "</html>" in dom, proc.stderr[-2000:]
    assert re.search(r'<img src="static/[^"]+\.png"', dom)


@pytest.mark.skipif(not CHROMIUM.exists(), reason="headless check needs /usr/bin/chromium (apt-get install chromium)")
def test_chromium_draws_the_vega_plot_with_local_scripts(plots_page: Path, vega_js: Path, tmp_path: Path):
    page = plots_page.read_text()
    for pkg, (url, _) in cdn_scripts().items():
        page = page.replace(url, (vega_js / VEGA_FILES[pkg]).as_uri())
    local = plots_page.with_name("index_local.html")
    local.write_text(page)
    proc = chromium("--virtual-time-budget=15000", "--dump-dom", local.as_uri(), user_data=tmp_path / "ud")
    dom = proc.stdout
    # The template asks vega-embed for SVG, so what was drawn is in the DOM.
    assert re.search(r'<svg[^>]*class="marks"', dom), "vega did not draw: " + proc.stderr[-2000:]
    texts = set(re.findall(r"<text[^>]*>([^<]+)</text>", dom))
    assert {"train", "hmm", "markov", "real_valid"} <= texts  # legend
    assert set(VOICES) <= texts  # one panel per voice
    assert len(re.findall(r'aria-roledescription="line mark"', dom)) >= 4 * 4
    # The EM curves: one panel per HMM fit, drawn as lines.
    assert {f"model {v}" for v in VOICES} <= texts
    assert {"EM iteration", "training log-likelihood per token"} <= texts
    assert len(re.findall(r'aria-roledescription="line mark"', dom)) >= 4 * 4 + 4
