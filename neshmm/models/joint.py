"""One hidden chain for all four voices: a multi-stream categorical HMM over frame ids.

The per-voice models sample each voice alone, so a piece is four unrelated lines. Here
every frame (see :mod:`neshmm.data.frames`) is one observation ``x_t = (x_t1..x_t4)``,
one symbol id per voice, and the voices are conditionally independent given the shared
state: ``p(x_t | z_t = k) = prod_v B_v[k, x_tv]``. The state carries what the voices have
in common (harmony, rhythm, section), so sampled voices move together.

:class:`~neshmm.models.multistream_hmm.MultiStreamCategoricalHMM` is the hmmlearn model
(fitting and scoring with ``implementation="log"``); the default scaling fit is
:func:`neshmm.models.em.fit_multistream`, the same EM bit for bit without importing
hmmlearn, and scaling scores come from :mod:`neshmm.models.forward`, hmmlearn's forward
pass bit for bit. :class:`JointModel` wraps them in the project's model shape (restarts, <unk>
policy, Generator sampling, npz file).
"""

from __future__ import annotations

import json
import logging
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np

if TYPE_CHECKING:
    from neshmm.models.multistream_hmm import MultiStreamCategoricalHMM

from neshmm import atomic
from neshmm.data.frames import UNK_ID, check_frame_beats
from neshmm.data.voices import VOICES
from neshmm.errors import ConfigError, DataError
from neshmm.models.base import read_model_file

N_STREAMS = len(VOICES)


def restart_seeds(seed: int, n_init: int) -> list[int]:
    """Seeds of the ``n_init`` restarts, all derived from ``seed``.

    Children of one ``SeedSequence``: restart ``i`` has the same seed whatever ``n_init``
    is, so raising ``n_init`` only adds restarts, and ``n_init=1`` is restart 0.
    """
    return [int(c.generate_state(1)[0]) for c in np.random.SeedSequence(int(seed)).spawn(int(n_init))]


class JointModel:
    """Joint four-voice HMM over frame ids ``(T, 4)`` (columns in ``VOICES`` order).

    ``n_symbols`` is the vocabulary size of each voice, ``<unk>`` (id 0) included, as
    :attr:`neshmm.data.frames.FrameVocab.sizes` gives it. Fitting runs ``n_init`` EM
    restarts seeded by :func:`restart_seeds` and keeps the one with the best final training
    log-likelihood (the first on ties). ``frame_beats`` is the grid the ids were made on;
    sampling and per-beat scores need it.
    """

    name = "joint"

    def __init__(
        self,
        n_symbols: Sequence[int],
        n_components: int = 16,
        n_iter: int = 100,
        tol: float = 0.01,
        seed: int = 17,
        n_init: int = 1,
        emission_prior: float = 0.1,
        frame_beats: float = 0.125,
        implementation: str = "scaling",
    ):
        self.n_symbols = tuple(int(n) for n in n_symbols)
        self.n_components = n_components
        self.n_iter = n_iter
        self.tol = tol
        self.seed = seed
        self.n_init = n_init
        self.emission_prior = emission_prior
        self.frame_beats = frame_beats
        self.implementation = implementation
        # Deterministic facts about the fit (saved); wall time apart, as in TokenModel.
        self.fit_info: dict = {}
        self.fit_seconds: float = 0.0

    @classmethod
    def from_config(cls, cfg, n_symbols: Sequence[int]) -> "JointModel":
        """From a mapping (dict, OmegaConf) or an object with attributes; absent keys keep
        their defaults."""
        get = cfg.get if isinstance(cfg, Mapping) else (lambda k, d: getattr(cfg, k, d))
        missing = object()
        values = {k: get(k, missing) for k in CONFIG_KEYS}
        return cls(n_symbols, **{k: v for k, v in values.items() if v is not missing})

    def config_dict(self) -> dict:
        return {k: getattr(self, k) for k in CONFIG_KEYS}

    def _validate(self) -> None:
        def bad(key: str, allowed: str):
            raise ConfigError(f"joint.{key}={getattr(self, key)!r}: must be {allowed}")

        if len(self.n_symbols) != N_STREAMS or min(self.n_symbols) < 2:
            raise ConfigError(f"joint model: n_symbols={self.n_symbols} must be {N_STREAMS} sizes >= 2")
        for key in ("n_components", "n_iter", "n_init"):
            if not isinstance(getattr(self, key), (int, np.integer)) or isinstance(getattr(self, key), bool) or getattr(self, key) < 1:
                bad(key, "an integer >= 1")
        if not (isinstance(self.tol, (int, float)) and self.tol >= 0):
            bad("tol", "a number >= 0")
        if not isinstance(self.seed, (int, np.integer)) or self.seed < 0:
            bad("seed", "an integer >= 0")
        if not (isinstance(self.emission_prior, (int, float)) and 0 < self.emission_prior < np.inf):
            bad("emission_prior", "a number > 0 (a zero prior gives unseen symbols probability 0)")
        if self.implementation not in ("scaling", "log"):
            bad("implementation", "'scaling' or 'log'")
        check_frame_beats(self.frame_beats)

    def _check_data(self, frames, lengths) -> tuple[np.ndarray, np.ndarray]:
        frames = np.asarray(frames)
        if frames.ndim != 2 or frames.shape[1] != N_STREAMS or not np.issubdtype(frames.dtype, np.integer):
            raise DataError(f"joint model: frames must be integer ids of shape (T, {N_STREAMS}), got {frames.dtype} {frames.shape}")
        frames = frames.astype(np.int64)
        lengths = np.asarray(lengths, dtype=np.int64).reshape(-1)
        if (lengths < 1).any() or int(lengths.sum()) != len(frames):
            raise DataError(f"joint model: lengths must be >= 1 and sum to {len(frames)} frames, got sum {int(lengths.sum())}")
        if frames.size and ((frames.min(axis=0) < 0) | (frames.max(axis=0) >= np.asarray(self.n_symbols))).any():
            raise DataError(f"joint model: ids of voice v must lie in 0..n_symbols[v]-1, n_symbols={self.n_symbols}")
        return frames, lengths

    def _check_fitted(self) -> None:
        if getattr(self, "transmat_", None) is None:
            raise DataError("joint model is not fitted: call fit() or JointModel.load() first")

    # E-step threads (config `jobs`, 0 = one per core); the fit is the same for any value.
    n_jobs: int = 0

    def _hmm(self, random_state: int | None = None) -> "MultiStreamCategoricalHMM":
        from neshmm.models.multistream_hmm import MultiStreamCategoricalHMM  # hmmlearn: only to fit or sample

        hmm = MultiStreamCategoricalHMM(
            n_components=self.n_components,
            n_features=self.n_symbols,
            emission_prior=float(self.emission_prior),
            random_state=random_state,
            n_iter=self.n_iter,
            tol=self.tol,
            implementation=self.implementation,
        )
        hmm.n_workers = self.n_jobs  # 0: one thread per core (estep.set_threads)
        return hmm

    def _fit_one(self, frames: np.ndarray, lengths: np.ndarray, seed: int):
        """One EM fit from ``seed``: ``(startprob, transmat, emissionprobs, monitor)``."""
        if self.implementation == "scaling":
            # EM without hmmlearn (neshmm.models.em): the same fit bit for bit, without
            # importing hmmlearn and scikit-learn.
            from neshmm.models import em

            monitor = em.ConvergenceMonitor(self.tol, self.n_iter)
            start, trans, emission = em.fit_multistream(
                frames, lengths, self.n_components, self.n_symbols, seed, float(self.emission_prior), monitor,
                n_threads=self.n_jobs)  # 0: one thread per core (estep.set_threads)
            return start, trans, emission, monitor
        hmm = self._hmm(seed)
        # hmmlearn logs "not converging" on float noise near the optimum; the monitor's
        # history is recorded in fit_info instead.
        log = logging.getLogger("hmmlearn.base")
        level = log.level
        log.setLevel(logging.ERROR)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                hmm.fit(frames, lengths)
        finally:
            log.setLevel(level)
        return hmm.startprob_, hmm.transmat_, hmm.emissionprob_, hmm.monitor_

    def fit(self, frames: np.ndarray, lengths: np.ndarray) -> "JointModel":
        self._validate()
        frames, lengths = self._check_data(frames, lengths)
        if len(frames) == 0:
            raise DataError("joint model: no training frames")
        t0 = time.perf_counter()
        best, best_ll, restarts = None, -np.inf, []
        for i, seed in enumerate(restart_seeds(self.seed, self.n_init)):
            *fitted, monitor = self._fit_one(frames, lengths, seed)
            history = [float(h) for h in monitor.history]
            info = {
                "seed": seed,
                "n_iter": int(monitor.iter),
                # hmmlearn's monitor also says converged when it ran out of iterations;
                # here it means the last gain fell below tol.
                "converged": bool(len(history) >= 2 and history[-1] - history[-2] < self.tol),
                "train_loglik": history[-1],
                "history": history,
            }
            restarts.append(info)
            if best is None or info["train_loglik"] > best_ll:
                best, best_ll, best_i = fitted, info["train_loglik"], i
        self.startprob_, self.transmat_, emission = best
        self.emissionprob_ = tuple(emission)
        chosen = restarts[best_i]
        self.fit_info = {
            "n_frames": int(len(frames)),
            "n_sequences": int(len(lengths)),
            "beats": float(len(frames) * float(self.frame_beats)),
            "best_restart": best_i,
            # train_loglik is hmmlearn's: the log-likelihood of the parameters the last
            # M-step started from (the saved ones are one M-step further, hence no worse).
            **{k: chosen[k] for k in ("n_iter", "converged", "train_loglik", "history")},
            "restarts": [{k: r[k] for k in ("seed", "n_iter", "converged", "train_loglik")} for r in restarts],
        }
        self.fit_seconds = time.perf_counter() - t0
        return self

    def log_likelihood(self, frames: np.ndarray, lengths: np.ndarray, unk_smoothing: float = 0.0) -> float:
        """Total natural-log likelihood of the frame sequences.

        ``<unk>`` policy: ``<unk>`` (id 0, a symbol not in the training vocabulary) is
        scored like any id. Training never shows it, so each state gives it exactly the
        mass the emission prior leaves it, ``emission_prior / (n_k + V * emission_prior)``
        for a state with ``n_k`` expected frames: finite, and small when the prior is.
        ``unk_smoothing`` (as in :class:`~neshmm.models.base.TokenModel`) additionally
        mixes every emission row with the uniform distribution by that weight.
        """
        self._check_fitted()
        frames, lengths = self._check_data(frames, lengths)
        if not 0 <= unk_smoothing <= 1:
            raise ConfigError(f"unk_smoothing={unk_smoothing!r}: must be in [0, 1]")
        if len(frames) == 0:
            return 0.0
        emissions = tuple((1 - unk_smoothing) * e + unk_smoothing / e.shape[1] for e in self.emissionprob_)
        if self.implementation == "scaling":
            # hmmlearn's scaling forward pass, compiled (neshmm.models.forward): the same
            # numbers bit for bit without importing hmmlearn; its ``score`` adds the
            # sequences' values one by one from 0, as this loop does (not np.sum's pairwise
            # order). On an underflow hmmlearn's path below raises its own error.
            from neshmm.models import forward

            per, ok = forward.forward_scaling(self.startprob_, self.transmat_, emissions, frames, lengths)
            if ok.all():
                total = 0.0
                for x in per.tolist():
                    total += x
                return total
        hmm = self._hmm()
        hmm.startprob_ = self.startprob_
        hmm.transmat_ = self.transmat_
        hmm.emissionprob_ = emissions
        return float(hmm.score(frames, lengths))

    def n_frames(self, beats: float) -> int:
        """Frames in ``beats`` beats; a ConfigError unless that is a whole number of frames."""
        fb = check_frame_beats(self.frame_beats)
        n = float(beats) / fb
        if not (beats > 0 and abs(n - round(n)) < 1e-6):
            raise ConfigError(f"beats={beats!r}: must be > 0 and a multiple of frame_beats={fb:g}")
        return int(round(n))

    def sample(self, rng: np.random.Generator, beats: float) -> np.ndarray:
        """Ids ``(n_frames(beats), 4)``: all voices of one piece of exactly ``beats`` beats.

        Draw order (fixed, so a seed gives the same piece): the whole state path first,
        one uniform per frame, then each voice's symbols in ``VOICES`` order, one uniform
        per frame. ``<unk>`` is never drawn (its mass is removed before drawing).
        """
        self._check_fitted()
        n = self.n_frames(beats)
        u = rng.random(n)
        start_cdf = np.cumsum(self.startprob_)
        trans_cdf = np.cumsum(self.transmat_, axis=1)
        k = self.n_components
        states = np.empty(n, dtype=np.int64)
        state = min(int(np.searchsorted(start_cdf, u[0] * start_cdf[-1], side="right")), k - 1)
        states[0] = state
        for t in range(1, n):
            row = trans_cdf[state]
            state = min(int(np.searchsorted(row, u[t] * row[-1], side="right")), k - 1)
            states[t] = state
        out = np.empty((n, N_STREAMS), dtype=np.int64)
        for s, e in enumerate(self.emissionprob_):
            p = e.copy()
            p[:, UNK_ID] = 0.0
            cdf = np.cumsum(p, axis=1)[states]
            draw = rng.random(n)[:, None] * cdf[:, -1:]
            out[:, s] = np.minimum((cdf <= draw).sum(axis=1), e.shape[1] - 1)
        return out

    def arrays(self) -> dict[str, np.ndarray]:
        self._check_fitted()
        out = {"startprob_": self.startprob_, "transmat_": self.transmat_}
        out.update({f"emissionprob_{v}_": e for v, e in zip(VOICES, self.emissionprob_)})
        return out

    def save(self, path: str | Path, **meta) -> None:
        """An npz of the fitted arrays plus a JSON header (``meta_json``); no pickle.

        ``meta`` goes into the header, e.g. ``vocab=FrameVocab.to_dict()`` so the file
        alone can turn samples into notes.
        """
        header = {"model": self.name, "n_symbols": list(self.n_symbols), "config": self.config_dict(),
                  "fit": self.fit_info, **meta}
        header_bytes = np.frombuffer(json.dumps(header, sort_keys=True).encode(), dtype=np.uint8)
        atomic.write_npz(path, meta_json=header_bytes, **self.arrays())

    @classmethod
    def load(cls, path: str | Path) -> tuple["JointModel", dict]:
        """The model and the whole header (``meta`` passed to :meth:`save` included)."""
        meta, arrays = read_model_file(path, registered=False)
        if meta.get("model") != cls.name:
            raise DataError(f"{path}: a {meta.get('model')!r} model file, not a joint one")
        try:
            m = cls(meta["n_symbols"], **meta["config"])
            m.startprob_ = arrays["startprob_"]
            m.transmat_ = arrays["transmat_"]
            m.emissionprob_ = tuple(arrays[f"emissionprob_{v}_"] for v in VOICES)
            m._validate()
            m._check_arrays()
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"{path}: not a usable joint model file ({type(exc).__name__}: {exc})") from None
        m.fit_info = meta.get("fit", {})
        return m, meta

    def _check_arrays(self) -> None:
        """The checks hmmlearn's ``_check`` makes of loaded parameters (shapes, rows summing
        to 1), in NumPy: loading a model to sample from it should not import hmmlearn and
        scikit-learn (a second of the sample stage's start-up)."""
        k = self.n_components

        def stochastic(name: str, a, shape: tuple[int, ...]) -> None:
            a = np.asarray(a)
            if a.shape != shape:
                raise ValueError(f"{name} must have shape {shape}, got {a.shape}")
            if not (np.all(a >= 0) and np.allclose(a.sum(axis=-1), 1.0)):
                raise ValueError(f"{name} must be non-negative and sum to 1 (per row)")

        stochastic("startprob_", self.startprob_, (k,))
        stochastic("transmat_", self.transmat_, (k, k))
        if len(self.emissionprob_) != N_STREAMS:
            raise ValueError("emissionprob_ must have one array per stream")
        for v, e, n in zip(VOICES, self.emissionprob_, self.n_symbols):
            stochastic(f"emissionprob_{v}_", e, (k, int(n)))


CONFIG_KEYS = ("n_components", "n_iter", "tol", "seed", "n_init", "emission_prior", "frame_beats", "implementation")
