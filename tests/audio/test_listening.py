"""The blind listening test's design, page and key (render/listen.html, render/listen_key.json)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from neshmm.audio.listening import design, pair_type, write_test


def entries(counts: dict[str, int]) -> list[dict]:
    out = []
    for source, n in counts.items():
        for i in range(n):
            key = f"{source}/{i:03d}"
            kind = "reference" if source == "reference" else "generated"
            out.append({"key": key, "kind": kind, "wav": f"{key}.wav", **({"role": source} if kind == "generated" else {})})
    return out


def test_every_pair_of_sources_every_clip_heard_seeded_order():
    e = entries({"model": 3, "baseline": 2, "joint": 3, "reference": 1})
    t = design(e, seed=0)
    sources = {cid: c["source"] for cid, c in t["clips"].items()}
    types = Counter(pair_type(sources[p["a"]], sources[p["b"]]) for p in t["pairs"])
    assert types == {("model", "baseline"): 3, ("model", "joint"): 3, ("model", "reference"): 3,
                     ("baseline", "joint"): 3, ("baseline", "reference"): 2, ("joint", "reference"): 3}
    assert [p["pair"] for p in t["pairs"]] == list(range(17))
    assert all(sources[p["a"]] != sources[p["b"]] for p in t["pairs"])
    heard = Counter(c for p in t["pairs"] for c in (p["a"], p["b"]))
    assert set(heard) == set(t["clips"])
    # The A side is a coin flip, not always the first source of the type.
    firsts = [sources[p["a"]] == pair_type(sources[p["a"]], sources[p["b"]])[0] for p in t["pairs"]]
    assert 0 < sum(firsts) < len(firsts)
    assert design(e, seed=0) == t
    other = design(e, seed=1)
    assert [(p["a"], p["b"]) for p in other["pairs"]] != [(p["a"], p["b"]) for p in t["pairs"]]
    assert other["test"] != t["test"]


def test_one_source_gives_no_test(tmp_path: Path):
    assert write_test(entries({"model": 2}), tmp_path, 0) is None
    assert not (tmp_path / "listen.html").exists()


def test_the_page_does_not_reveal_the_sources(tmp_path: Path):
    e = entries({"model": 2, "joint": 2, "reference": 1})
    for x in e:
        (tmp_path / x["wav"]).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / x["wav"]).write_bytes(x["key"].encode())
    key = write_test(e, tmp_path, seed=3)
    page = (tmp_path / "listen.html").read_text()
    for word in ("model/", "joint", "reference/", "markov", ".wav\"", "listen_key"):
        assert word not in page, word
    # Clips are the rendered WAVs under opaque names; the key maps them back.
    for cid, clip in key["clips"].items():
        assert cid in page
        assert (tmp_path / "listen" / f"{cid}.wav").read_bytes() == clip["key"].encode()
        assert cid not in clip["key"]
    on_disk = json.loads((tmp_path / "listen_key.json").read_text())
    assert on_disk["test"] == key["test"] and on_disk["pairs"] == key["pairs"]
    assert on_disk["pair_types"] == {"model vs joint": 2, "model vs reference": 2, "joint vs reference": 2}
    assert key["test"] in page
