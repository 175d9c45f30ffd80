"""The page template of `dvc plots show`, with vega, vega-lite and vega-embed inlined.

Why: dvc-render's own page loads the three scripts from cdn.jsdelivr.net, so without network
the interactive plots of ``dvc_plots/index.html`` stay blank (only the PNG shows).
``.dvc/config`` sets ``plots.html_template = plots/page.html``: dvc-render's page with the
``{scripts}`` placeholder (where dvc-render puts its CDN tags) replaced by the minified builds
themselves, so the page needs nothing but itself and its ``static/`` PNGs, also from file://.
Inlined, not linked: the output folder is wherever ``-o`` says, so no relative path to a
vendored file would hold.

The builds are the versions dvc-render pins (what its page would load online), taken
byte-identical from the npm registry; every ``<script>`` carries its package, version and
the sha256 of its body, and ``.dvc/plots/vendor/README.md`` records source and licence.
``python -m neshmm.plots_page`` rebuilds the template and the licence files with ``npm pack``
(after a dvc-render upgrade changes its pins).
"""

from __future__ import annotations

import argparse
import hashlib
import re
import subprocess
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / ".dvc" / "plots" / "page.html"
VENDOR = ROOT / ".dvc" / "plots" / "vendor"

# Load order: vega-lite needs vega, vega-embed needs both.
PACKAGES = ("vega", "vega-lite", "vega-embed")

# dvc-render's PAGE_HTML, with a charset (the builds are UTF-8, a file:// page without one
# is read as windows-1252) and the inlined scripts where it has ``{scripts}``.
SKELETON = """<!DOCTYPE html>
<html>
<head>
    {refresh_tag}
    <meta charset="utf-8">
    <title>DVC Plot</title>
    <!-- Built by `python -m neshmm.plots_page`; sources and licences: .dvc/plots/vendor/README.md -->
@SCRIPTS@
    <style>
        table {
            border-spacing: 15px;
        }
    </style>
</head>
<body>
    {plot_divs}
</body>
</html>
"""

SCRIPT = '<script data-package="{pkg}" data-version="{version}" data-sha256="{sha}">\n{body}\n</script>'
SCRIPT_RE = re.compile(
    r'<script data-package="([\w-]+)" data-version="([\w.-]+)" data-sha256="([0-9a-f]{64})">\n(.*?)\n</script>', re.DOTALL
)
# dvc-render's HTML.embed() replaces these anywhere in the template, inside scripts too.
PLACEHOLDERS = ("{scripts}", "{plot_divs}", "{refresh_tag}")


def pinned() -> dict[str, str]:
    """{package: version} of the CDN tags dvc-render writes into its page."""
    from dvc_render.vega import VegaRenderer

    found = dict(re.findall(r'src="https://cdn\.jsdelivr\.net/npm/([\w-]+)@([\d.]+)"', VegaRenderer.SCRIPTS))
    if set(found) != set(PACKAGES):
        raise RuntimeError(f"dvc-render's page now loads {sorted(found)}, not {list(PACKAGES)}: update neshmm.plots_page")
    return found


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def build_page(builds: dict[str, tuple[str, str]]) -> str:
    """The template for ``{package: (version, minified build)}``.

    Refuses a build that would break out of its ``<script>`` element or that holds one of
    dvc-render's placeholders (it would be replaced inside the code).
    """
    tags = []
    for pkg in PACKAGES:
        version, body = builds[pkg]
        if re.search(r"</script|<!--", body, flags=re.IGNORECASE):
            raise ValueError(f"{pkg}@{version} contains '</script' or '<!--': it cannot be inlined")
        if any(p in body for p in PLACEHOLDERS):
            raise ValueError(f"{pkg}@{version} contains a dvc-render placeholder {PLACEHOLDERS}")
        tags.append(SCRIPT.format(pkg=pkg, version=version, sha=sha256(body), body=body))
    return SKELETON.replace("@SCRIPTS@", "\n".join(tags))


def inlined(page: str) -> dict[str, tuple[str, str, str]]:
    """{package: (version, recorded sha256, body)} of the scripts a template inlines, in order."""
    return {pkg: (version, sha, body) for pkg, version, sha, body in SCRIPT_RE.findall(page)}


def npm_builds(versions: dict[str, str], workdir: Path) -> dict[str, tuple[str, str, str]]:
    """{package: (version, build/<package>.min.js, LICENSE)} from the npm registry's tarballs.

    ``build/<package>.min.js`` is the file jsdelivr serves for ``<package>@<version>``
    (the ``jsdelivr`` field of each package.json), i.e. what dvc-render's page loads online.
    """
    specs = [f"{pkg}@{versions[pkg]}" for pkg in PACKAGES]
    subprocess.run(["npm", "pack", "--silent", *specs], cwd=workdir, check=True, capture_output=True, timeout=300)
    out = {}
    for pkg in PACKAGES:
        with tarfile.open(workdir / f"{pkg}-{versions[pkg]}.tgz") as tar:
            read = lambda name: tar.extractfile(f"package/{name}").read().decode("utf-8")
            out[pkg] = (versions[pkg], read(f"build/{pkg}.min.js"), read("LICENSE"))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        builds = npm_builds(pinned(), Path(tmp))
    page = build_page({pkg: (version, js) for pkg, (version, js, _) in builds.items()})
    PAGE.write_text(page, encoding="utf-8")
    VENDOR.mkdir(parents=True, exist_ok=True)
    for pkg, (version, js, licence) in builds.items():
        (VENDOR / f"LICENSE.{pkg}").write_text(licence, encoding="utf-8")
        print(f"{pkg}@{version}  {len(js.encode()):>7} bytes  sha256 {sha256(js)}")
    print(f"wrote {PAGE.relative_to(ROOT)} ({len(page.encode()) // 1024} KiB); update {VENDOR.relative_to(ROOT)}/README.md")


if __name__ == "__main__":
    main()
