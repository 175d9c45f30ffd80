"""Step `tokenize`: prepared notes -> per-voice tokens and vocabularies for every split.

The training-file sample is checked before any tokenizing (a ``data.sample_fraction``
that selects no file is a config error), and the output folder is swapped in whole, so a
killed run leaves the previous tokens or none.
"""

from __future__ import annotations

from pathlib import Path

from neshmm import atomic
from neshmm.config import Config
from neshmm.data.corpus import Split
from neshmm.data.token_store import SPLITS, save_voice, tokenize_split, training_files
from neshmm.data.tokens import UNK_ID, Vocab, quantizer_from_config


def run(cfg: Config, prepared: Path, out: Path) -> str:
    q = quantizer_from_config(cfg.tokenize)
    splits = {s: Split.load(prepared / f"{s}.npz") for s in SPLITS}
    chosen = training_files(len(splits["train"].files), cfg.data.sample_fraction, cfg.data.seed)
    summary = {
        "train_files": [splits["train"].files[i] for i in chosen],
        "duration_bins": list(q.duration_bins),
        "velocity_values": list(q.velocity_values),
        "voices": {},
    }
    with atomic.atomic_dir(out) as tmp:
        for voice in cfg.voices:
            seqs = {s: tokenize_split(splits[s], voice, q, chosen if s == "train" else None) for s in SPLITS}
            vocab = Vocab.build(seqs["train"].tokens)
            vocab.save(tmp / f"{voice}.vocab.json", voice=voice, duration_bins=list(q.duration_bins))
            ids = save_voice(tmp / f"{voice}.npz", vocab, seqs)
            summary["voices"][voice] = {
                "vocab_size": len(vocab.tokens),
                **{
                    s: {
                        "sequences": int(len(sq.lengths)),
                        "tokens": int(len(sq.tokens)),
                        "unknown_tokens": int((ids[s] == UNK_ID).sum()),
                    }
                    for s, sq in seqs.items()
                },
            }
        atomic.write_json(tmp / "summary.json", summary)
    line = ", ".join(f"{v} {s['train']['tokens']} tokens/{s['vocab_size']} types" for v, s in summary["voices"].items())
    return f"tokenize: {len(chosen)} training files; {line}"
