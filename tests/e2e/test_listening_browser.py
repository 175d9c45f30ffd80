"""A listener clicks through render/listen.html in headless Chromium; the CSV it downloads is analysed.

Driven over the Chrome DevTools protocol (a small client on aiohttp's websocket): real
mouse events at the buttons' positions, a reload half-way (answers must survive in
localStorage), the download through the page's own Blob link into a folder Chromium is
told to save to. The simulated listener reads the key to decide (always the joint clip,
else the real one, else A), so the analysis must find exactly those preferences: the
page's clip ids, the CSV and the key's join all have to agree.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import sh

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")


class CDP:
    """Just enough of the DevTools protocol: send a command, wait for its answer or an event."""

    def __init__(self, ws):
        self.ws, self.ids, self.events = ws, itertools.count(1), []

    async def call(self, method: str, **params):
        i = next(self.ids)
        await self.ws.send_json({"id": i, "method": method, "params": params})
        while True:
            msg = await asyncio.wait_for(self.ws.receive_json(), 60)
            if msg.get("id") == i:
                if "error" in msg:
                    raise AssertionError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)

    async def wait_event(self, method: str, timeout: float = 60):
        for k, msg in enumerate(self.events):
            if msg.get("method") == method:
                return self.events.pop(k)
        deadline = time.monotonic() + timeout
        while True:
            msg = await asyncio.wait_for(self.ws.receive_json(), max(0.1, deadline - time.monotonic()))
            if msg.get("method") == method:
                return msg
            self.events.append(msg)

    async def js(self, expression: str):
        r = await self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            raise AssertionError(f"{expression}: {r['exceptionDetails']}")
        return r["result"].get("value")

    async def click(self, selector: str):
        """A real left click at the element's centre (scrolled into view first)."""
        box = await self.js(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)}); e.scrollIntoView({{block: 'center'}});"
            " const r = e.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2, r.width]; })()"
        )
        assert box[2] > 0, f"{selector} is not visible"
        for kind in ("mousePressed", "mouseReleased"):
            await self.call("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1], button="left", clickCount=1)

    async def load(self, url: str | None = None):
        if url:
            await self.call("Page.navigate", url=url)
        else:
            await self.call("Page.reload")
        await self.wait_event("Page.loadEventFired")


def start_chromium(profile: Path) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen(
        [str(CHROMIUM), "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync",
         "--disable-background-networking", "--disable-component-update", "--mute-audio",
         "--remote-debugging-port=0", f"--user-data-dir={profile}", "--window-size=1000,900", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    port_file = profile / "DevToolsActivePort"
    deadline = time.monotonic() + 120
    while not (port_file.exists() and port_file.read_text().strip()):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"chromium did not start: {proc.stderr.read().decode()[-2000:]}")
        time.sleep(0.2)
    return proc, int(port_file.read_text().split()[0])


async def listen(page_url: str, key: dict, port: int, downloads: Path) -> dict:
    import aiohttp

    sources = {cid: c["source"] for cid, c in key["clips"].items()}
    seen = {}
    async with aiohttp.ClientSession() as http:
        version = await (await http.get(f"http://127.0.0.1:{port}/json/version")).json()
        targets = await (await http.get(f"http://127.0.0.1:{port}/json/list")).json()
        page_ws = next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")
        async with http.ws_connect(version["webSocketDebuggerUrl"], max_msg_size=0) as bws, \
                http.ws_connect(page_ws, max_msg_size=0) as pws:
            browser, page = CDP(bws), CDP(pws)
            await browser.call("Browser.setDownloadBehavior", behavior="allow", downloadPath=str(downloads),
                               eventsEnabled=True)
            await page.call("Page.enable")
            await page.load(page_url)
            n = len(key["pairs"])
            assert await page.js("document.getElementById('progress').textContent") == f"0 of {n} pairs answered"
            await page.click("#listener")
            await page.call("Input.insertText", text="tester")
            await page.click("h1")  # blur: the name is saved on change
            for i in range(n):
                if i == n // 2:
                    await page.load()  # answers so far must come back from localStorage
                    assert await page.js("document.getElementById('progress').textContent") == f"{i} of {n} pairs answered"
                    assert await page.js("document.getElementById('listener').value") == "tester"
                a, b = await page.js("['a', 'b'].map(s => document.getElementById('audio-' + s).getAttribute('src'))")
                a, b = Path(a).stem, Path(b).stem
                pick = next((s for s, c in (("a", a), ("b", b)) if sources[c] == "joint"), None) or \
                    next((s for s, c in (("a", a), ("b", b)) if sources[c] == "reference"), "a")
                seen[(a, b)] = a if pick == "a" else b
                await page.click(f"#choose-{pick}")
                assert await page.js("document.getElementById('progress').textContent") == f"{i + 1} of {n} pairs answered"
            assert await page.js("document.getElementById('done').hidden") is False
            await page.click("#download")
            await browser.wait_event("Browser.downloadProgress", timeout=60)
            deadline = time.monotonic() + 60
            while not list(downloads.glob("*.csv")) and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
    return seen


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs headless Chromium: apt-get install -y chromium")
def test_a_listener_clicks_through_and_the_csv_is_analysed(reproduced_repo: Path, tmp_path: Path):
    pytest.importorskip("aiohttp")
    render = reproduced_repo / "render"
    key = json.loads((render / "listen_key.json").read_text())
    (tmp_path / "profile").mkdir()
    (tmp_path / "downloads").mkdir()
    proc, port = start_chromium(tmp_path / "profile")
    try:
        seen = asyncio.run(listen((render / "listen.html").as_uri(), key, port, tmp_path / "downloads"))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    (csv_file,) = list((tmp_path / "downloads").glob("*.csv"))
    assert csv_file.name == f"listen-answers-{key['test']}-tester.csv"
    lines = csv_file.read_text().splitlines()
    assert lines[0] == "test,listener,pair,a,b,choice,position,answered_at"
    assert len(lines) == 1 + len(key["pairs"]) == 1 + len(seen)
    for line in lines[1:]:
        test, who, pair, a, b, choice, position, _ = line.split(",")
        assert (test, who) == (key["test"], "tester")
        assert key["pairs"][int(pair)] == {"pair": int(pair), "a": a, "b": b}
        assert seen[(a, b)] == choice and position == ("A" if choice == a else "B")
    out = sh(reproduced_repo, sys.executable, "-m", "neshmm.listening", "analyze", str(csv_file)).stdout
    assert f"test {key['test']}: {len(seen)} answers from 1 listener(s)" in out
    # Every type once (one clip per source in the small config): the listener's rule, back from the key.
    assert "| model vs joint: model preferred | 1 | 0 | 0.000 |" in out
    assert "| baseline vs joint: baseline preferred | 1 | 0 | 0.000 |" in out
    assert "| joint vs reference: joint preferred | 1 | 1 | 1.000 |" in out
    assert "| model vs reference: model preferred | 1 | 0 | 0.000 |" in out
    assert "| model vs baseline: model preferred | 1 |" in out
