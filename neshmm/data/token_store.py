"""Per-voice token artifacts: tokens, ids and sequence lengths for every split, plus vocab.

Layout of ``<dir>/<voice>.npz``: for each split ``s`` in train/valid/test,
``s_tokens`` (n, 3) int32 raw tokens (so statistics never depend on the vocabulary),
``s_ids`` (n,) int32 vocabulary ids (0 = <unk>), ``s_lengths`` tokens per file and
``s_files`` the index of each sequence's file in the prepared split. ``train`` holds
only the files sampled for training (``data.sample_fraction``).
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neshmm import atomic
from neshmm.data.corpus import Split
from neshmm.errors import ConfigError, DataError
from neshmm.data.tokens import Quantizer, Vocab, tokenize_notes

SPLITS = ("train", "valid", "test")


@dataclass
class Sequences:
    tokens: np.ndarray  # (n, 3)
    lengths: np.ndarray  # (n_sequences,)
    files: np.ndarray  # (n_sequences,) index into the prepared split's file list

    def as_list(self) -> list[np.ndarray]:
        return np.split(self.tokens, np.cumsum(self.lengths)[:-1]) if len(self.lengths) else []

    @classmethod
    def from_list(cls, seqs: list[np.ndarray], files: list[int]) -> "Sequences":
        lengths = np.array([len(s) for s in seqs], dtype=np.int64)
        tokens = np.concatenate(seqs) if seqs else np.zeros((0, 3), dtype=np.int64)
        return cls(tokens.astype(np.int64), lengths, np.asarray(files, dtype=np.int64))


def tokenize_split(split: Split, voice: str, q: Quantizer, file_indices=None) -> Sequences:
    """Tokens of one voice for the given files of a split (files without the voice skipped)."""
    idx = range(len(split.files)) if file_indices is None else file_indices
    seqs, files = [], []
    for i in idx:
        notes = split.voice_notes(voice, i)
        if len(notes) == 0:
            continue
        seqs.append(tokenize_notes(notes, int(split.ticks_per_beat[i]), q))
        files.append(i)
    return Sequences.from_list(seqs, files)


def training_files(n_files: int, fraction: float, seed: int) -> np.ndarray:
    """The seeded subset of training files; sorted so the artifact order is stable.

    Checked before any tokenizing: a fraction that rounds to zero files is a config error
    (it depends on how many files were readable, so the schema cannot check it).
    """
    if n_files == 0:
        raise DataError("data/prepared/train.npz: no readable training file; see data/prepared/report.json")
    k = int(round(fraction * n_files))
    if k == 0:
        raise ConfigError(
            f"data.sample_fraction={fraction}: selects 0 of {n_files} training files; must be at "
            f"least 1/{n_files} = {1 / n_files:.4g} (and at most 1)"
        )
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_files, size=k, replace=False))


def save_voice(path: Path, vocab: Vocab, seqs: dict[str, Sequences]) -> dict[str, np.ndarray]:
    """Write the voice's artifact; return the ids per split so callers need not encode again."""
    arrays, ids = {}, {}
    for s, sq in seqs.items():
        ids[s] = vocab.encode(sq.tokens)
        arrays[f"{s}_tokens"] = sq.tokens.astype(np.int32)
        arrays[f"{s}_ids"] = ids[s].astype(np.int32)
        arrays[f"{s}_lengths"] = sq.lengths
        arrays[f"{s}_files"] = sq.files
    atomic.write_npz(path, **arrays)
    return ids


@dataclass
class VoiceTokens:
    voice: str
    vocab: Vocab
    arrays: dict[str, np.ndarray]

    def sequences(self, split: str) -> Sequences:
        return Sequences(
            self.arrays[f"{split}_tokens"].astype(np.int64),
            self.arrays[f"{split}_lengths"],
            self.arrays[f"{split}_files"],
        )

    def ids(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        return self.arrays[f"{split}_ids"].astype(np.int64), self.arrays[f"{split}_lengths"]


def load_voice(token_dir: Path, voice: str) -> VoiceTokens:
    npz, vocab_path = Path(token_dir) / f"{voice}.npz", Path(token_dir) / f"{voice}.vocab.json"
    if not npz.exists() or not vocab_path.exists():
        raise DataError(f"{npz}: tokens missing; run `dvc repro tokenize`")
    try:
        with np.load(npz, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        vocab = Vocab.load(vocab_path)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:  # JSONDecodeError is a ValueError
        raise DataError(
            f"{npz}: not readable tokens ({type(exc).__name__}: {exc}); run `dvc repro -f tokenize`"
        ) from None
    return VoiceTokens(voice, vocab, arrays)
