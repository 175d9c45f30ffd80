"""The committed `dvc plots show` template: the scripts it inlines are the recorded ones.

Offline: these read the committed files only (the rebuild from npm is `python -m
neshmm.plots_page`; that the page draws is tests/e2e/test_plots_render.py).
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from neshmm import plots_page
from neshmm.plots_page import (
    PACKAGES,
    PAGE,
    ROOT,
    VENDOR,
    build_page,
    inlined,
    pinned,
    sha256,
)


@pytest.fixture(scope="module")
def page() -> str:
    return PAGE.read_text(encoding="utf-8")


def test_the_template_inlines_the_three_builds_at_dvc_renders_versions(page: str):
    scripts = inlined(page)
    assert list(scripts) == list(PACKAGES), "vega, vega-lite, vega-embed, in load order"
    assert {pkg: version for pkg, (version, _, _) in scripts.items()} == pinned()
    for pkg, (version, sha, body) in scripts.items():
        assert sha256(body) == sha, f"{pkg}@{version} was edited after vendoring"
        assert len(body) > 50_000 and f'"{version}"' in body[:2000], f"{pkg} is not the {version} build"


def test_the_readme_records_what_is_inlined_and_the_licences_are_there(page: str):
    readme = (VENDOR / "README.md").read_text()
    for pkg, (version, sha, body) in inlined(page).items():
        row = re.search(rf"^\| \[{pkg}\]\(https://github\.com/vega/{pkg}\) \| ([\d.]+) \| .*?\| (\d+) \| `([0-9a-f]{{64}})` \| BSD-3-Clause", readme, re.MULTILINE)
        assert row, f"no README row for {pkg}"
        assert row.groups() == (version, str(len(body.encode())), sha)
        licence = (VENDOR / f"LICENSE.{pkg}").read_text()
        assert "Redistribution and use in source and binary forms" in licence  # BSD-3-Clause


def test_the_template_is_what_the_builder_makes(page: str):
    """So it can be rebuilt: nothing hand-edited around the scripts either."""
    rebuilt = build_page({pkg: (version, body) for pkg, (version, _, body) in inlined(page).items()})
    assert rebuilt == page


def test_the_template_has_no_cdn_tags_and_dvc_render_can_fill_it(page: str):
    from dvc_render.html import HTML

    assert "{scripts}" not in page, "dvc-render would put its CDN <script> tags there"
    assert not re.search(r'(src|href)="https?://', page)
    filled = HTML(page).with_scripts("<script src='https://cdn.example/x.js'></script>").with_element("<div>plot</div>").embed()
    assert "cdn.example" not in filled and "<div>plot</div>" in filled
    assert inlined(filled) == inlined(page), "filling the placeholders left the scripts intact"


@pytest.mark.parametrize("bad", ["a</script>b", "a</SCRIPT >b", "x<!--y", "s='{plot_divs}'", "{scripts}"])
def test_a_build_that_would_break_the_page_is_refused(bad: str):
    builds = {pkg: ("1.0.0", "ok();") for pkg in PACKAGES}
    builds["vega-lite"] = ("1.0.0", bad)
    with pytest.raises(ValueError, match="vega-lite@1.0.0"):
        build_page(builds)


def test_dvc_uses_the_template_by_default():
    """`dvc config plots.html_template` is relative to .dvc/; it must name the committed page."""
    out = subprocess.run(
        [sys.executable, "-m", "dvc", "config", "plots.html_template"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert (ROOT / ".dvc" / out).resolve() == PAGE.resolve()
    assert plots_page.PAGE.is_file()
