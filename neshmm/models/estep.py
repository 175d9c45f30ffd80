"""Compiled E-step for HMMs: fused scaled forward–backward–statistics over many sequences.

Why this exists: hmmlearn's scaling E-step calls three C routines per sequence
(``forward_scaling``, ``backward_scaling``, ``compute_scaling_xi_sum``) that each stream
the whole lattice, plus NumPy posterior and emission bookkeeping; on NES-MDB voices that
cost 3.6 CPU-ns per T*K^2 per iteration, about 25x the AVX2 floor. Here one pass does it
all: a forward sweep that stores the scaled alphas, then one backward sweep that, per
time step, updates beta, adds the alpha-beta outer product into the transition sums and
adds the posterior into the emission table, so beta, xi and the posteriors are never
stored.

The arithmetic is hmmlearn's scaling recursion in float64 (Rabiner scaling: each alpha
row normalised to sum 1, the same factor reused by beta), only summed in another order,
so log-likelihoods agree with hmmlearn to ~1e-13 relative
(tests/models/test_estep.py). Determinism: sequences are cut into chunks from their
lengths alone (:func:`sequence_chunks`), each chunk's statistics are summed in sequence
order into its own buffer, and buffers are added in chunk order, so the result is
bit-identical for any number of threads.

This module imports numba at import time and is therefore imported lazily (only when a
model fits or scores): a DVC stage that never fits starts without paying for numba.
Compiled code is cached on disk (``cache=True``) by content, so every copy of the project
shares it (:mod:`neshmm.models.numba_cache`). First call with an empty cache: ~11 s CPU of
compilation; later processes load it in ~0.3 s.

Entry points:

- :func:`estep` works on frame probabilities ``(T, K)`` from any emission model and
  returns posteriors;
- :func:`categorical_estep` is the categorical fast path: frame probabilities are rows of
  ``emissionprob.T`` gathered by token id inside the kernel, and the posteriors are added
  into per-chunk emission counts ``(V, K)`` instead of being materialised;
- :func:`multistream_estep` is the same for several categorical streams per frame (the
  joint four-voice model): one row per stream is gathered and multiplied, and each
  posterior is added to every stream's counts.

Both share one kernel: a frame "table" and a row index per time step. For the generic
path the table is ``frameprob`` itself with rows ``0..T-1`` and the output table is the
posterior matrix; for the categorical path the table is ``emissionprob.T`` with rows =
token ids, and the output table is the emission counts (with S streams, S rows per step
into the streams' stacked tables).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np

from neshmm.models import numba_cache

numba_cache.install()  # before numba compiles anything: cache keyed by content (see there)

import numba  # noqa: E402
from numba import njit, prange  # noqa: E402

# Tokens per chunk. Chunks are cut at sequence boundaries from the lengths alone, so the
# partition (and hence the summation order) never depends on the thread count. Small
# enough that two threads share the NES-MDB voices (~440k tokens) evenly, large enough
# that the per-chunk emission buffers (V x K each) stay a small part of the work.
CHUNK_TOKENS = 16_384

# K is padded up to a multiple of this with states of zero probability (they add exact
# zeros everywhere), so the inner loops over states have no scalar remainder on AVX2.
#
# Kernel variants measured on NES-MDB p1 (150k tokens, CPU-ns per T*K^2 at K = 16 / 64 / 128,
# one thread, machine under load): accumulate-into-row matvecs (`row[j] += a * A[i, j]`) and
# per-step xi outer products 0.84 / 0.40 / 0.36; the same with xi as one GEMM per sequence
# 0.76 / 0.35 / 0.31; dot-product matvecs with fastmath reassoc + GEMM xi
# 0.58 / 0.31 / 0.26; hand-unrolled 8-state blocks 1.47 / 1.21 / 1.18 (LLVM left them scalar).
# The reassoc variant was dropped again: a reassociated reduction is vectorised or not
# depending on run-time checks of the scratch arrays' addresses, which differ per thread and
# per run, so fits were not bit-identical across thread counts (tests/models/test_estep.py
# failed in CI at K = 16). The matvecs are now axpys (element-wise inner loops, vectorised
# with every sum in one fixed order); "contract" (FMA) is fixed at compile time and stays.
# Each axpy pass now takes four rows of the matrix at once (row += (a0 r0 + a1 r1) + (a2 r2 +
# a3 r3)): LLVM cannot prove the running row and the matrix rows apart, so it loads and
# stores the running row once per pass, and with one row per pass that chain through memory
# was the K = 16 bottleneck (E-step alone, one thread, CPU-ns per T*K^2 at K = 16 / 64 / 128:
# 0.76 / 0.61 / 0.49 -> 0.65 / 0.26 / 0.24). A fixed order still, so still deterministic.
LANES = 4

# hmmlearn's forward_scaling raises when a scaled row sums below this.
MIN_SUM = 1e-300


class EStepResult(NamedTuple):
    """Sufficient statistics of one E-step (hmmlearn's ``stats`` names in brackets)."""

    log_likelihood: float  # summed over sequences (curr_logprob)
    n_sequences: int  # non-empty sequences (stats['nobs'])
    start: np.ndarray  # (K,) posteriors at sequence starts (stats['start'])
    trans: np.ndarray  # (K, K) expected transition counts (stats['trans'])
    emission: np.ndarray  # generic: posteriors (T, K); categorical: counts (K, V) (stats['obs'])


class UnderflowError(ValueError):
    """The scaled forward pass underflowed (same condition as hmmlearn's range_error)."""


def sequence_chunks(lengths: np.ndarray, chunk_tokens: int | None = None) -> np.ndarray:
    """Bounds ``b`` such that chunk ``c`` holds sequences ``b[c]:b[c+1]`` (~chunk_tokens each)."""
    chunk_tokens = CHUNK_TOKENS if chunk_tokens is None else int(chunk_tokens)
    lengths = np.asarray(lengths, dtype=np.int64)
    bounds, acc = [0], 0
    for i, n in enumerate(lengths.tolist()):
        acc += n
        if acc >= chunk_tokens:
            bounds.append(i + 1)
            acc = 0
    if bounds[-1] < len(lengths):
        bounds.append(len(lengths))
    return np.asarray(bounds, dtype=np.int64)


def set_threads(n_threads: int | None) -> int:
    """Use ``n_threads`` numba threads (0/None = one per core, capped at numba's pool size)."""
    limit = numba.config.NUMBA_NUM_THREADS
    n = limit if not n_threads or n_threads <= 0 else min(int(n_threads), limit)
    numba.set_num_threads(n)
    return n


@njit(cache=True, nogil=True, error_model="numpy", fastmath={"contract"})
def _frame(table, rows, t, S, fbuf):
    """The frame probabilities of step ``t`` with ``S`` > 1 streams: the product of table
    rows ``rows[t*S : t*S+S]`` in stream order, as the model's own ``_compute_likelihood``
    multiplies them. (With one stream the caller reads the table row itself: returning
    either a table row or ``fbuf`` from here made K = 16 20 % slower.)"""
    K = fbuf.shape[0]
    first = table[rows[t * S]]
    for j in range(K):
        fbuf[j] = first[j]
    for s in range(1, S):
        other = table[rows[t * S + s]]
        for j in range(K):
            fbuf[j] *= other[j]
    return fbuf


@njit(cache=True, nogil=True, error_model="numpy", fastmath={"contract"})
def _sequence(startprob, transmat, transmat_t, table, rows, S, s0, s1, alpha, vbuf, scale, beta, start_acc,
              xi_acc, out, fbuf, post):
    """Forward then fused backward/statistics pass over tokens ``s0:s1``; returns (loglik, ok).

    ``alpha``/``vbuf``/``scale`` are scratch of at least ``s1 - s0`` rows, ``beta`` a
    scratch vector of length K, ``fbuf`` and ``post`` too. Adds the start posterior into
    ``start_acc``, the unweighted transition sums ``sum_t alpha_t[i] * (B_{t+1} *
    beta_{t+1})[j]`` into ``xi_acc`` (the caller multiplies by the transition matrix once
    at the end) and each posterior row into ``out[rows[t*S + s]]`` for every stream ``s``.

    Departures from hmmlearn's C loops, same sums: the matvecs are axpys over matrix rows,
    four rows per pass, which vectorise without run-time-dependent reassociation (see the note
    on kernel variants above),
    and the transition sums are one GEMM per sequence over the stored ``B * beta`` rows instead of a rank-1
    update per step. Rounding differs at the 1e-15 level per step.
    """
    n = s1 - s0
    K = startprob.shape[0]
    # Forward (hmmlearn forward_scaling): alpha_0 = pi * B_0, alpha_t = (alpha_{t-1} A) * B_t,
    # each row scaled to sum 1; log P = sum_t log(row sum).
    frame = table[rows[s0]] if S == 1 else _frame(table, rows, s0, S, fbuf)
    total = 0.0
    for j in range(K):
        a = startprob[j] * frame[j]
        alpha[0, j] = a
        total += a
    if total < MIN_SUM:
        return 0.0, False
    loglik = np.log(total)
    inv = 1.0 / total
    scale[0] = inv
    for j in range(K):
        alpha[0, j] *= inv
    for t in range(1, n):
        frame = table[rows[s0 + t]] if S == 1 else _frame(table, rows, s0 + t, S, fbuf)
        row = alpha[t]
        prev = alpha[t - 1]
        # row = prev @ A as K axpys over A's rows: the inner loop is element-wise, so it
        # vectorises without reassociating any sum (each row[j] adds i = 0..K-1 in order).
        # Four rows of A per pass (K is padded to a multiple of LANES = 4): the running row
        # is loaded and stored K/4 times instead of K, in a fixed order.
        for j in range(K):
            row[j] = 0.0
        for i in range(0, K, 4):
            a0, a1, a2, a3 = prev[i], prev[i + 1], prev[i + 2], prev[i + 3]
            r0, r1, r2, r3 = transmat[i], transmat[i + 1], transmat[i + 2], transmat[i + 3]
            for j in range(K):
                row[j] += (a0 * r0[j] + a1 * r1[j]) + (a2 * r2[j] + a3 * r3[j])
        total = 0.0
        for j in range(K):
            x = row[j] * frame[j]
            row[j] = x
            total += x
        if total < MIN_SUM:
            return 0.0, False
        loglik += np.log(total)
        inv = 1.0 / total
        scale[t] = inv
        for j in range(K):
            row[j] *= inv
    # Backward (hmmlearn backward_scaling): beta_{n-1} = c_{n-1}, beta_t = c_t * A (B_{t+1} beta_{t+1}),
    # fused with the posterior (alpha_t * beta_t, normalised) and xi sums.
    for i in range(K):
        beta[i] = scale[n - 1]
    for t in range(n - 1, -1, -1):
        if t < n - 1:
            frame = table[rows[s0 + t + 1]] if S == 1 else _frame(table, rows, s0 + t + 1, S, fbuf)
            v = vbuf[t + 1]  # kept for the transition sums below
            for j in range(K):
                v[j] = frame[j] * beta[j]
            # beta_t[i] = c_t * sum_j A[i, j] v[j], as axpys over the rows of A^T (as above).
            c = scale[t]
            for i in range(K):
                beta[i] = 0.0
            for j in range(0, K, 4):  # four columns per pass, as in the forward sweep
                v0, v1, v2, v3 = v[j], v[j + 1], v[j + 2], v[j + 3]
                c0, c1, c2, c3 = transmat_t[j], transmat_t[j + 1], transmat_t[j + 2], transmat_t[j + 3]
                for i in range(K):
                    beta[i] += (v0 * c0[i] + v1 * c1[i]) + (v2 * c2[i] + v3 * c3[i])
            for i in range(K):
                beta[i] *= c
        total = 0.0
        arow_t = alpha[t]
        for k in range(K):
            total += arow_t[k] * beta[k]
        inv = 1.0 / total
        if S == 1:  # the one-stream loops kept apart: through `post` K = 16 ran 30 % slower
            orow = out[rows[s0 + t]]
            for k in range(K):
                orow[k] += arow_t[k] * beta[k] * inv
            if t == 0:
                for k in range(K):
                    start_acc[k] += arow_t[k] * beta[k] * inv
        else:
            for k in range(K):
                post[k] = arow_t[k] * beta[k] * inv
            for s in range(S):
                orow = out[rows[(s0 + t) * S + s]]
                for k in range(K):
                    orow[k] += post[k]
            if t == 0:
                for k in range(K):
                    start_acc[k] += post[k]
    if n > 1:
        xi_acc += np.dot(alpha[: n - 1].T, vbuf[1:n])
    return loglik, True


@njit(cache=True, nogil=True, parallel=True, error_model="numpy")
def _estep_kernel(startprob, transmat, table, rows, S, offsets, bounds, out, out_per_chunk):
    """All chunks in parallel; per-chunk sums added in chunk order.

    ``out_per_chunk``: the output table's rows are shared between chunks (categorical
    counts), so each chunk fills its own copy and the copies are added in chunk order;
    otherwise (posteriors, one row per token) chunks write disjoint rows of ``out``.
    Returns (loglik, nobs, start, xi, first failing sequence or -1).
    """
    K = startprob.shape[0]
    n_chunks = bounds.shape[0] - 1
    transmat_t = np.ascontiguousarray(transmat.T)
    ll_parts = np.zeros(n_chunks)
    nobs_parts = np.zeros(n_chunks, dtype=np.int64)
    fail_parts = np.full(n_chunks, -1, dtype=np.int64)
    start_parts = np.zeros((n_chunks, K))
    xi_parts = np.zeros((n_chunks, K, K))
    n_out = n_chunks if out_per_chunk else 0
    out_parts = np.zeros((n_out, out.shape[0], out.shape[1]))
    for c in prange(n_chunks):
        first, last = bounds[c], bounds[c + 1]
        longest = 1
        for s in range(first, last):
            longest = max(longest, offsets[s + 1] - offsets[s])
        alpha = np.empty((longest, K))
        vbuf = np.empty((longest, K))
        scale = np.empty(longest)
        beta = np.empty(K)
        fbuf = np.empty(K)
        post = np.empty(K)
        target = out_parts[c] if out_per_chunk else out
        ll = 0.0
        for s in range(first, last):
            s0, s1 = offsets[s], offsets[s + 1]
            if s1 == s0:
                continue
            lp, ok = _sequence(startprob, transmat, transmat_t, table, rows, S, s0, s1, alpha, vbuf, scale, beta,
                               start_parts[c], xi_parts[c], target, fbuf, post)
            if not ok:
                fail_parts[c] = s
                break
            ll += lp
            nobs_parts[c] += 1
        ll_parts[c] = ll
    loglik = 0.0
    nobs = 0
    start = np.zeros(K)
    xi = np.zeros((K, K))
    failed = -1
    for c in range(n_chunks):
        if fail_parts[c] >= 0 and failed < 0:
            failed = fail_parts[c]
        loglik += ll_parts[c]
        nobs += nobs_parts[c]
        start += start_parts[c]
        xi += xi_parts[c]
        if out_per_chunk:
            out += out_parts[c]
    return loglik, nobs, start, xi * transmat, failed


def _offsets(lengths: np.ndarray, n_rows: int) -> np.ndarray:
    lengths = np.asarray(lengths, dtype=np.int64)
    if (lengths < 0).any() or int(lengths.sum()) != n_rows:
        raise ValueError(f"lengths must be non-negative and sum to the number of frames ({n_rows}), "
                         f"got sum {int(lengths.sum())}")
    return np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)


def _padded(K: int) -> int:
    return -(-K // LANES) * LANES


def _pad_columns(a: np.ndarray, Kp: int) -> np.ndarray:
    """``a`` (n, K) as a C-contiguous float64 (n, Kp) with zero columns appended."""
    a = np.asarray(a, dtype=np.float64)
    if a.shape[1] == Kp:
        return np.ascontiguousarray(a)
    out = np.zeros((a.shape[0], Kp))
    out[:, : a.shape[1]] = a
    return out


def _single_threaded_blas():
    """One BLAS thread for the per-sequence GEMMs: the parallelism is numba's, over chunks.

    A threaded BLAS inside each numba thread oversubscribes the cores (measured: K=64 went
    from 0.35 to 5.2 CPU-ns per T*K^2 on 2 cores with OpenBLAS threads spinning).
    """
    return _threadpool_controller().limit(limits=1, user_api="blas")


@functools.lru_cache(maxsize=1)
def _threadpool_controller():
    """Found once per process: finding the loaded BLAS libraries reads the process's memory
    map and took 3.4 ms, longer than a whole E-step on a demo voice (2.2 ms)."""
    from threadpoolctl import ThreadpoolController  # comes with scikit-learn, hence hmmlearn

    return ThreadpoolController()


def _run(startprob, transmat, table, rows, lengths, out, out_per_chunk, n_threads, chunk_tokens):
    """Pad to whole SIMD blocks, run the kernel, cut the padding off again."""
    K = len(startprob)
    Kp = table.shape[1]
    offsets = _offsets(lengths, len(rows))
    S = rows.shape[1]
    rows = np.ascontiguousarray(rows).reshape(-1)
    bounds = sequence_chunks(lengths, chunk_tokens)
    startprob = _pad_columns(np.reshape(startprob, (1, K)), Kp)[0]
    transmat = _pad_columns(np.vstack([transmat, np.zeros((Kp - K, K))]), Kp)
    if n_threads is not None:
        set_threads(n_threads)
    with _single_threaded_blas():
        loglik, nobs, start, trans, failed = _estep_kernel(
            startprob, transmat, table, rows, S, offsets, bounds, out, out_per_chunk
        )
    if failed >= 0:
        raise UnderflowError(
            f"forward pass failed with underflow in sequence {failed}; "
            "consider using implementation='log' instead"
        )
    return float(loglik), int(nobs), start[:K].copy(), np.ascontiguousarray(trans[:K, :K])


def estep(frameprob, lengths, startprob, transmat, n_threads: int | None = None,
          chunk_tokens: int | None = None) -> EStepResult:
    """E-step on frame probabilities ``frameprob[t, k] = P(x_t | state k)`` of any emission model.

    ``lengths`` splits the ``T`` frames into sequences. Returns the summed log-likelihood,
    the number of non-empty sequences, start and transition statistics as hmmlearn's
    ``_do_estep`` accumulates them, and the posteriors ``(T, K)`` for the caller's
    emission statistics. ``n_threads``: 0 = one per core, None = leave numba's setting.
    """
    K = len(startprob)
    table = _pad_columns(frameprob, _padded(K))
    rows = np.arange(len(table), dtype=np.int64).reshape(-1, 1)
    post = np.zeros_like(table)
    loglik, nobs, start, trans = _run(startprob, transmat, table, rows, lengths, post, False,
                                      n_threads, chunk_tokens)
    return EStepResult(loglik, nobs, start, trans, np.ascontiguousarray(post[:, :K]))


def categorical_estep(ids, lengths, startprob, transmat, emissionprob, n_threads: int | None = None,
                      chunk_tokens: int | None = None) -> EStepResult:
    """E-step of a categorical HMM straight from token ids; ``emission`` is counts ``(K, V)``."""
    K = len(startprob)
    table = _pad_columns(np.asarray(emissionprob).T, _padded(K))  # (V, Kp)
    rows = np.ascontiguousarray(ids, dtype=np.int64).reshape(-1, 1)
    if len(rows) and (rows.min() < 0 or rows.max() >= len(table)):
        raise ValueError(f"token ids must lie in 0..{len(table) - 1}")
    counts = np.zeros_like(table)
    loglik, nobs, start, trans = _run(startprob, transmat, table, rows, lengths, counts, True,
                                      n_threads, chunk_tokens)
    return EStepResult(loglik, nobs, start, trans, np.ascontiguousarray(counts[:, :K].T))


def multistream_estep(ids, lengths, startprob, transmat, emissionprobs, n_threads: int | None = None,
                      chunk_tokens: int | None = None) -> EStepResult:
    """E-step of a multi-stream categorical HMM (one symbol per stream per frame, streams
    independent given the state: ``P(x_t | k) = prod_s B_s[k, x_ts]``) from ids ``(T, S)``.

    The categorical fast path for several streams: the streams' tables are stacked into one
    (``sum_s V_s`` rows) and each frame gathers one row per stream, so neither the ``(T, K)``
    frame probabilities nor the posteriors are built; ``emission`` is a list of counts
    ``(K, V_s)``, one per stream. With one stream it is :func:`categorical_estep`.
    """
    K = len(startprob)
    tables = [np.asarray(e, dtype=np.float64).T for e in emissionprobs]
    sizes = np.array([len(t) for t in tables], dtype=np.int64)
    ids = np.ascontiguousarray(ids, dtype=np.int64)
    if ids.ndim != 2 or ids.shape[1] != len(tables):
        raise ValueError(f"ids must have shape (T, {len(tables)}), got {ids.shape}")
    if len(ids) and ((ids < 0).any() or (ids >= sizes).any()):
        raise ValueError(f"ids of stream s must lie in 0..n_s - 1, n = {tuple(sizes.tolist())}")
    stream_offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    table = _pad_columns(np.vstack(tables), _padded(K))
    rows = np.ascontiguousarray(ids + stream_offsets)
    counts = np.zeros_like(table)
    loglik, nobs, start, trans = _run(startprob, transmat, table, rows, lengths, counts, True,
                                      n_threads, chunk_tokens)
    emission = [np.ascontiguousarray(counts[o: o + n, :K].T) for o, n in zip(stream_offsets.tolist(), sizes.tolist())]
    return EStepResult(loglik, nobs, start, trans, emission)
