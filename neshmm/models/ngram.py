"""N-gram model over token ids with interpolated modified Kneser–Ney smoothing.

Why by hand rather than a library: see docs/models.md (nltk.lm has only one fixed discount,
no modified KN, pure-Python scoring and sampling far too slow for 2 M tokens, and
pickle-only storage; kenlm's estimator ``lmplz`` is a separate C++ binary that pip does not
install, and its Python module scores but cannot sample from a distribution).

The estimate is Chen & Goodman (1998), section 3, interpolated form, as also used by kenlm:

    p_k(w | h) = (a(hw) - D_k(a(hw)))⁺ / S(h)  +  γ(h) · p_{k-1}(w | h')
    γ(h)       = (D_k1 N1(h·) + D_k2 N2(h·) + D_k3+ N3+(h·)) / S(h)
    p_0(w)     = 1 / n_symbols                          (uniform, ``<unk>`` = id 0 included)

where ``h'`` is ``h`` without its first symbol, ``S(h) = Σ_w a(hw)``, ``N_j(h·)`` counts
the words with ``a(hw) = j`` (``N3+``: at least 3), and a context never seen at order ``k``
passes ``p_{k-1}`` through unchanged (γ = 1). ``a`` is the *adjusted* count:

* the raw count at the highest order, and for n-grams whose context starts with the
  sequence-start symbol (nothing can precede the start, so there is no left context to
  count);
* otherwise the continuation count: the number of distinct symbols (start symbol included)
  seen right before the n-gram.

Discounts, per order, from the count-of-counts n1..n4 of the adjusted counts:
``Y = n1 / (n1 + 2 n2)``, ``D1 = 1 - 2Y n2/n1``, ``D2 = 2 - 3Y n3/n2``, ``D3+ = 3 - 4Y n4/n3``.
When a count-of-count is zero or a discount falls outside (0, j] (tiny corpora), that
order uses ``FALLBACK_DISCOUNTS`` instead, as kenlm's ``--discount_fallback`` does.

``discount_floor`` f raises each discount to at least ``f * j`` (``D_j >= f j``; 0 = Chen &
Goodman's estimate unchanged). Why: the estimate assumes count-of-counts that fall with the
count, but NES-MDB songs often play their loop twice, so n2 and n4 are inflated at the
higher orders (p1, order 4: n3 = 7,564 < n4 = 9,723) and the estimate gives D3+ = 0.07, which
leaves almost no mass for the lower orders. With f = 0.5 (the default, the same values as the
fallback) every voice and order scores better on the valid split (docs/models.md).

Sequence starts: every sequence is preceded by one start symbol ``BOS = n_symbols`` (an id
outside the vocabulary, only ever a context, never predicted). Contexts are cut at the
start: the first token is predicted from the context ``(BOS)``, the second from
``(BOS, x1)``, and so on until the context reaches ``order - 1`` tokens. There is no end
symbol: like the other models, the n-gram model generates an endless stream and the sampler
stops it by length.

Storage: every table is an int64 or float64 array (no pickle, no object arrays). A context
of length j has an id, its index in the sorted table of length-j contexts; the key of a
length-j context is ``id(its first j-1 symbols) * (n_symbols + 1) + last symbol`` and the
key of an n-gram of order k is ``id(its context) * (n_symbols + 1) + word``. Keys stay small
(ids are at most the number of training tokens), whatever ``order`` and ``n_symbols`` are.
The tables of all orders are concatenated, with offsets.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from neshmm.errors import require
from neshmm.data.tokens import UNK_ID
from neshmm.models.base import TokenModel, _categorical, cdf_without_unk, sequence_sums

MAX_ORDER = 5
# kenlm's --discount_fallback values, for orders whose count-of-counts cannot give discounts.
FALLBACK_DISCOUNTS = (0.5, 1.0, 1.5)


@dataclass
class NGramConfig:
    name: str = "ngram"
    order: int = 5
    discount_floor: float = 0.5


def modified_kn_discounts(counts: np.ndarray) -> tuple[np.ndarray, bool]:
    """(D1, D2, D3+) from adjusted counts (Chen & Goodman's estimate) and whether it was usable."""
    n = np.bincount(np.minimum(counts, 5), minlength=6)[1:5].astype(np.float64)  # n1..n4
    if (n == 0).any():
        return np.array(FALLBACK_DISCOUNTS), False
    y = n[0] / (n[0] + 2 * n[1])
    d = np.array([1 - 2 * y * n[1] / n[0], 2 - 3 * y * n[2] / n[1], 3 - 4 * y * n[3] / n[2]])
    if not ((d > 0) & (d <= np.array([1.0, 2.0, 3.0]))).all():
        return np.array(FALLBACK_DISCOUNTS), False
    return d, True


def _lookup(sorted_keys: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Index of each query key in ``sorted_keys``, -1 where absent (negative queries included)."""
    if len(sorted_keys) == 0:
        return np.full(len(query), -1, dtype=np.int64)
    pos = np.clip(np.searchsorted(sorted_keys, query), 0, len(sorted_keys) - 1)
    return np.where((query >= 0) & (sorted_keys[pos] == query), pos, -1).astype(np.int64)


class NGramModel(TokenModel):
    name = "ngram"
    Config = NGramConfig
    label_param = "order"
    # Per order k = 1..order, concatenated (offsets say where order k starts):
    # ngram_keys_/ngram_counts_: sorted n-gram keys and adjusted counts;
    # context_keys_: sorted keys of contexts of length 1..order-1 (length 0 is the one empty context);
    # discounts_: (order, 3) D1, D2, D3+.
    fitted_arrays = ("ngram_keys_", "ngram_counts_", "ngram_offsets_", "context_keys_", "context_offsets_", "discounts_")

    def __init__(self, n_symbols: int, order: int = 5, discount_floor: float = 0.5):
        super().__init__(n_symbols)
        self.order = int(order)
        self.discount_floor = float(discount_floor)
        self._tables = None  # per-order views and context statistics, built on first use

    @classmethod
    def validate_config(cls, cfg, key: str) -> None:
        require(
            isinstance(cfg.order, int) and 1 <= cfg.order <= MAX_ORDER,
            f"{key}.order", cfg.order, f"an integer in [1, {MAX_ORDER}] (n-gram length: 1 = unigram)",
        )
        require(
            0 <= cfg.discount_floor < 1, f"{key}.discount_floor", cfg.discount_floor,
            "in [0, 1) (D_j >= discount_floor * j; 0 = Chen & Goodman's estimate)",
        )

    @property
    def base(self) -> int:
        return self.n_symbols + 1  # symbols plus the start symbol

    @property
    def bos(self) -> int:
        return self.n_symbols

    # ----- context ids over a stream -------------------------------------------------------

    def _padded(self, ids: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The stream with one BOS before every non-empty sequence, and the mask of token positions."""
        lengths = lengths[lengths > 0]
        starts = (np.cumsum(lengths) - lengths).astype(np.int64)
        padded = np.insert(ids, starts, self.bos)
        is_token = np.ones(len(padded), dtype=bool)
        is_token[starts + np.arange(len(starts))] = False
        return padded, is_token

    @staticmethod
    def _extend(prev_ids: np.ndarray, padded: np.ndarray, base: int) -> np.ndarray:
        """Keys of the contexts one symbol longer: context of position i = context of i-1 + symbol i-1.

        ``prev_ids[i]`` is the id of the length-(j-1) context predicting position i (-1: none);
        the result at i is the key of the length-j context predicting position i (-1: none).
        """
        keys = np.full(len(padded), -1, dtype=np.int64)
        ok = prev_ids[:-1] >= 0
        keys[1:][ok] = prev_ids[:-1][ok] * base + padded[:-1][ok]
        return keys

    # ----- fit -------------------------------------------------------------------------------

    def fit(self, ids: np.ndarray, lengths: np.ndarray) -> "NGramModel":
        t0 = time.perf_counter()
        ids = np.asarray(ids, dtype=np.int64).ravel()
        lengths = np.asarray(lengths, dtype=np.int64)
        base, n = self.base, self.order
        padded, is_token = self._padded(ids, lengths)
        is_bos = ~is_token
        tok = np.flatnonzero(is_token)

        # Context ids per position, order by order; a BOS position has only the empty context.
        ctx_ids = np.zeros(len(padded), dtype=np.int64)  # length-0 context: id 0 everywhere
        ctx_tables = []  # sorted keys of length-1..n-1 contexts
        ngram_keys_pos = []  # per order: n-gram key at each token position (-1: none)
        for k in range(1, n + 1):
            keys = np.where(ctx_ids >= 0, ctx_ids * base + padded, -1)
            keys[is_bos] = -1
            ngram_keys_pos.append(keys)
            if k == n:
                break
            ctx_keys = self._extend(ctx_ids, padded, base)
            ctx_keys[is_bos] = -1  # contexts are only needed where a token is predicted
            table = np.unique(ctx_keys[ctx_keys >= 0])
            ctx_tables.append(table)
            # -1 at BOS positions propagates: no context reaches past a sequence start.
            ctx_ids = _lookup(table, ctx_keys)

        # Raw counts per order, then adjusted counts (continuation counts below the top
        # order, except n-grams whose context starts with BOS).
        tables, counts, discounts = [], [], []
        uniq_per_order = []
        for k in range(1, n + 1):
            keys = ngram_keys_pos[k - 1][tok]
            keys = keys[keys >= 0]
            uniq, raw = np.unique(keys, return_counts=True)
            uniq_per_order.append((uniq, raw.astype(np.int64)))
        for k in range(1, n + 1):
            uniq, raw = uniq_per_order[k - 1]
            adjusted = raw.copy()
            if k < n:
                # For each distinct (k+1)-gram, the k-gram it ends with (its suffix).
                longer = ngram_keys_pos[k][tok]
                here = ngram_keys_pos[k - 1][tok]
                valid = longer >= 0
                _, first = np.unique(longer[valid], return_index=True)
                suffix = np.searchsorted(uniq, here[valid][first])
                continuation = np.bincount(suffix, minlength=len(uniq)).astype(np.int64)
                # A k-gram with a left neighbour (token or BOS) always has continuation >= 1;
                # 0 means its context starts with BOS, where the raw count stays.
                adjusted = np.where(continuation > 0, continuation, raw)
            d, _ = modified_kn_discounts(adjusted)
            d = np.maximum(d, self.discount_floor * np.array([1.0, 2.0, 3.0]))
            tables.append(uniq)
            counts.append(adjusted)
            discounts.append(d)

        self.ngram_keys_ = np.concatenate(tables).astype(np.int64)
        self.ngram_counts_ = np.concatenate(counts).astype(np.int64)
        self.ngram_offsets_ = np.concatenate([[0], np.cumsum([len(t) for t in tables])]).astype(np.int64)
        self.context_keys_ = (np.concatenate(ctx_tables) if ctx_tables else np.zeros(0)).astype(np.int64)
        self.context_offsets_ = np.concatenate([[0], np.cumsum([len(t) for t in ctx_tables])]).astype(np.int64)
        self.discounts_ = np.array(discounts, dtype=np.float64).reshape(n, 3)
        self._tables = None
        self.fit_info = {
            "n_tokens": int(len(ids)),
            "n_sequences": int((lengths > 0).sum()),
            "converged": True,
            "n_iter": 0,
            "ngrams_per_order": [int(len(t)) for t in tables],
        }
        self.fit_seconds = time.perf_counter() - t0
        return self

    # ----- derived tables --------------------------------------------------------------------

    def _order_tables(self) -> list[dict]:
        """Per order: keys, counts, discount per key and per-context S and γ (cached)."""
        if self._tables is not None:
            return self._tables
        self.check_fitted()
        out = []
        for k in range(1, self.order + 1):
            a, b = self.ngram_offsets_[k - 1], self.ngram_offsets_[k]
            keys, counts = self.ngram_keys_[a:b], self.ngram_counts_[a:b]
            n_ctx = 1 if k == 1 else int(self.context_offsets_[k - 1] - self.context_offsets_[k - 2])
            d = self.discounts_[k - 1]
            disc = d[np.minimum(counts, 3) - 1]
            ctx = keys // self.base
            total = np.bincount(ctx, weights=counts, minlength=n_ctx)
            mass = np.bincount(ctx, weights=disc, minlength=n_ctx)
            with np.errstate(invalid="ignore", divide="ignore"):
                gamma = np.where(total > 0, mass / np.where(total > 0, total, 1), 1.0)
            out.append({
                "keys": keys, "numer": (counts - disc).astype(np.float64), "total": total, "gamma": gamma,
                "ctx": None if k == 1 else self.context_keys_[self.context_offsets_[k - 2]:self.context_offsets_[k - 1]],
            })
        self._tables = out
        return out

    # ----- scoring ---------------------------------------------------------------------------

    def probabilities(self, ids: np.ndarray, lengths: np.ndarray, target: int | None = None) -> np.ndarray:
        """p(token | its context) at every position of the sequences, the model's own
        distribution (no ``<unk>`` policy); with ``target``, p(target | the same contexts)."""
        self.check_fitted()
        ids = np.asarray(ids, dtype=np.int64).ravel()
        lengths = np.asarray(lengths, dtype=np.int64)
        tables = self._order_tables()
        padded, is_token = self._padded(ids, lengths)
        predicted = padded if target is None else np.where(is_token, int(target), padded)
        is_bos = ~is_token
        p = np.full(len(padded), 1.0 / self.n_symbols)
        ctx_ids = np.zeros(len(padded), dtype=np.int64)
        for k, t in enumerate(tables, start=1):
            if k > 1:
                ctx_keys = self._extend(ctx_ids, padded, self.base)
                ctx_keys[is_bos] = -1
                ctx_ids = _lookup(t["ctx"], ctx_keys)
            ok = ctx_ids >= 0
            total = np.zeros(len(padded))
            gamma = np.ones(len(padded))
            total[ok] = t["total"][ctx_ids[ok]]
            gamma[ok] = t["gamma"][ctx_ids[ok]]
            seen = ok & (total > 0)
            numer = np.zeros(len(padded))
            hit = _lookup(t["keys"], np.where(ok, ctx_ids * self.base + predicted, -1))
            numer[hit >= 0] = t["numer"][hit[hit >= 0]]
            p = np.where(seen, numer / np.where(seen, total, 1.0) + gamma * p, p)
        return p[is_token]

    def _sequence_log_likelihoods(self, ids: np.ndarray, lengths: np.ndarray, p_unk: float) -> np.ndarray:
        # The <unk> policy of TokenModel.log_likelihood, position by position: the KN base
        # gives <unk> some mass of its own, which is taken out (p(. | context, known)) before
        # the known tokens are scaled by 1 - p_unk. A context holding <unk> was never seen in
        # training, so the recursion backs off past it by itself.
        p = self.probabilities(ids, lengths)
        p_unk_model = self.probabilities(ids, lengths, target=UNK_ID)
        scored = np.where(ids == UNK_ID, p_unk, (1.0 - p_unk) * p / (1.0 - p_unk_model))
        return sequence_sums(np.log(scored), lengths)

    def distribution(self, context: list[int] | np.ndarray) -> np.ndarray:
        """p(· | context) over all ``n_symbols`` ids; ``context`` starts with ``bos`` at a sequence start.

        Only the last ``order - 1`` symbols matter; a context reaching past a start symbol is
        cut there.
        """
        tables = self._order_tables()
        ctx = [int(s) for s in context][-(self.order - 1):] if self.order > 1 else []
        if self.bos in ctx:
            ctx = ctx[len(ctx) - 1 - ctx[::-1].index(self.bos):]
        p = np.full(self.n_symbols, 1.0 / self.n_symbols)
        for k, t in enumerate(tables, start=1):
            if k - 1 > len(ctx):
                break  # the context is cut at the sequence start
            cid = self._context_id(ctx[len(ctx) - (k - 1):], tables)
            if cid < 0:
                break  # unseen here, hence at every higher order too
            lo, hi = np.searchsorted(t["keys"], [cid * self.base, (cid + 1) * self.base])
            words = t["keys"][lo:hi] - cid * self.base
            q = t["gamma"][cid] * p
            q[words] += t["numer"][lo:hi] / t["total"][cid]
            p = q
        return p

    def _context_id(self, symbols: list[int], tables: list[dict]) -> int:
        """Id of a context in the table of its length (0 for the empty context), -1 if unseen.

        A context's key is built from its own prefix's id, oldest symbol first.
        """
        cid = 0
        for j, s in enumerate(symbols, start=1):
            cid = int(_lookup(tables[j]["ctx"], np.array([cid * self.base + s]))[0])
            if cid < 0:
                return -1
        return cid

    def _token_stream(self, rng: np.random.Generator) -> Iterator[int]:
        history = [self.bos]
        while True:
            token = _categorical(rng, cdf_without_unk(self.distribution(history)))
            yield token
            history = (history + [token])[-max(self.order - 1, 1):]


MODEL = NGramModel
