"""Negative item samplers for training with sampled losses.

Conventions:

* Item ids index an item vocabulary ``[0, V)``; id ``0`` is the padding id and is never
  sampled.
* ``sample(positives, num_negatives, exclude=None, unique=False)`` returns an int64 array
  ``[n, num_negatives]``. Row ``i`` never contains ``positives[i]`` nor any id in
  ``exclude[i]`` (e.g. the user's history).
* Negatives of one row are drawn **with replacement** (a row may repeat an id) unless
  ``unique=True``. Rows are independent.
* Excluded ids are rejected, so the result follows the sampler's distribution restricted to
  the allowed ids (renormalised).
* Each sampler owns a ``numpy.random.Generator(seed)``: the same seed and the same sequence
  of calls give the same draws; successive calls give fresh draws.

Sampling is vectorised rejection sampling: draw every cell, mark the invalid ones, redraw
only those, for at most ``max_rounds`` rounds. Rows that are still unsatisfied after that
(allowed ids carry very little probability) are finished by an exact draw from their allowed
ids. Rows that cannot be satisfied at all raise ``ValueError`` before any sampling.
"""
from __future__ import annotations

from itertools import chain

import numpy as np


class _RejectionSampler:
    """Shared rejection-sampling logic; subclasses define the distribution via ``_weights``."""

    max_rounds = 20

    def __init__(self, weights: np.ndarray, seed: int) -> None:
        # weights[j] > 0 <=> item j can be sampled; probability proportional to weights.
        self._weights = weights
        self._support = weights > 0
        self._support_size = int(self._support.sum())
        if self._support_size == 0:
            raise ValueError("no item can be sampled: every item has zero weight (or is padding)")
        self._rng = np.random.default_rng(seed)

    @property
    def num_items(self) -> int:
        """Vocabulary size V (ids are in [0, V), 0 is padding)."""
        return len(self._weights)

    def _draw(self, size) -> np.ndarray:
        raise NotImplementedError

    def sample(self, positives, num_negatives: int, exclude=None, unique: bool = False) -> np.ndarray:
        """Return ``[len(positives), num_negatives]`` int64 negatives (see module docstring).

        ``exclude``: optional sequence with one collection of ids per row (list, set, array,
        or a padded 2-D array whose padding 0 is harmless). ``unique=True``: no repeats
        within a row.
        """
        positives = np.asarray(positives)
        if positives.ndim != 1 or not np.issubdtype(positives.dtype, np.integer):
            raise ValueError(
                f"positives: found shape {positives.shape} dtype {positives.dtype}; "
                "expected a 1-D integer array"
            )
        positives = positives.astype(np.int64, copy=False)
        if int(num_negatives) != num_negatives or num_negatives < 1:
            raise ValueError(f"num_negatives must be a positive integer, found {num_negatives!r}")
        k, n, v = int(num_negatives), len(positives), self.num_items
        if n and (positives.min() < 0 or positives.max() >= v):
            raise ValueError(
                f"positives: found ids in [{positives.min()}, {positives.max()}]; "
                f"expected ids in [0, {v}) (the sampler's vocabulary)"
            )

        # Sorted keys row * V + id of forbidden (row, id) pairs; None = only the positives.
        blocked = None if exclude is None else self._blocked_keys(positives, exclude)
        self._check_feasible(positives, blocked, k if unique else 1)

        out = self._draw((n, k))
        rows = np.arange(n)
        for _ in range(self.max_rounds):
            bad = self._invalid(out[rows], rows, positives, blocked, unique)
            if not bad.any():
                return out
            # Only rows with a bad cell are checked again; only bad cells are redrawn.
            keep = bad.any(axis=1)
            rows, bad = rows[keep], bad[keep]
            sub = out[rows]
            sub[bad] = self._draw(int(bad.sum()))
            out[rows] = sub
        bad = self._invalid(out[rows], rows, positives, blocked, unique)
        for row, row_bad in zip(rows, bad):
            if row_bad.any():
                self._exact_fill(out, row, row_bad, positives, blocked, unique)
        return out

    # -- helpers -------------------------------------------------------------------------

    def _blocked_keys(self, positives: np.ndarray, exclude) -> np.ndarray:
        """Sorted unique keys ``row * V + item`` of every (row, id) that must not be returned."""
        n, v = len(positives), self.num_items
        if len(exclude) != n:
            raise ValueError(f"exclude: found {len(exclude)} rows; expected one per positive ({n})")
        sizes = np.fromiter((len(e) for e in exclude), dtype=np.int64, count=n)
        if n and all(isinstance(e, np.ndarray) for e in exclude):
            flat = np.concatenate([np.ravel(e) for e in exclude]).astype(np.int64)
        else:
            flat = np.fromiter(chain.from_iterable(exclude), dtype=np.int64, count=int(sizes.sum()))
        in_vocab = (flat >= 0) & (flat < v)  # ids we never draw need no blocking
        rows = np.concatenate([np.arange(n), np.repeat(np.arange(n), sizes)[in_vocab]])
        items = np.concatenate([positives, flat[in_vocab]])
        keys = np.sort(rows * v + items)
        if keys.size == 0:
            return keys
        # Deduplicate by hand: np.unique hashes first, which is far slower on ~10M keys.
        return keys[np.concatenate(([True], keys[1:] != keys[:-1]))]

    def _check_feasible(self, positives, blocked, need: int) -> None:
        n, v = len(positives), self.num_items
        rows, items = (np.arange(n), positives) if blocked is None else np.divmod(blocked, v)
        n_blocked = np.bincount(rows[self._support[items]], minlength=n)
        available = self._support_size - n_blocked
        short = np.flatnonzero(available < need)
        if short.size:
            r = int(short[0])
            raise ValueError(
                f"cannot sample {need} negative(s) for row {r}: its positive and exclude cover "
                f"{int(n_blocked[r])} of the {self._support_size} sampleable items, leaving "
                f"{int(available[r])}; expected at least {need} allowed item(s) "
                f"({short.size} row(s) affected)"
            )

    def _invalid(self, cand, rows, positives, blocked, unique: bool) -> np.ndarray:
        """Boolean mask of cells of ``cand`` (rows ``rows`` of the output) that must be redrawn."""
        if blocked is None:  # no exclude: only the row's positive is forbidden
            bad = cand == positives[rows, None]
        else:
            keys = rows[:, None] * self.num_items + cand
            pos = np.minimum(np.searchsorted(blocked, keys), len(blocked) - 1)
            bad = blocked[pos] == keys
        if unique and cand.shape[1] > 1:
            # Mark every repeat after the first occurrence (in stable sorted order).
            order = np.argsort(cand, axis=1, kind="stable")
            srt = np.take_along_axis(cand, order, axis=1)
            dup_sorted = np.zeros_like(bad)
            dup_sorted[:, 1:] = srt[:, 1:] == srt[:, :-1]
            dup = np.empty_like(bad)
            np.put_along_axis(dup, order, dup_sorted, axis=1)
            bad |= dup
        return bad

    def _exact_fill(self, out, row: int, row_bad, positives, blocked, unique: bool) -> None:
        """Fill the bad cells of one row by drawing directly from its allowed ids."""
        v = self.num_items
        allowed = self._support.copy()
        if blocked is None:
            allowed[positives[row]] = False
        else:
            lo, hi = np.searchsorted(blocked, [row * v, (row + 1) * v])
            allowed[blocked[lo:hi] - row * v] = False
        if unique:
            allowed[out[row, ~row_bad]] = False
        ids = np.flatnonzero(allowed)
        p = self._weights[ids] / self._weights[ids].sum()
        out[row, row_bad] = self._rng.choice(ids, size=int(row_bad.sum()), replace=not unique, p=p)


class UniformSampler(_RejectionSampler):
    """Uniform negatives over ids ``[first_item, num_items)``.

    ``num_items`` is the vocabulary size V including the padding id 0 (the same number as an
    embedding table's ``input_dim``); with the default ``first_item=1`` padding is never drawn.
    """

    def __init__(self, num_items: int, seed: int = 0, first_item: int = 1) -> None:
        if not 0 <= first_item < num_items:
            raise ValueError(
                f"expected 0 <= first_item < num_items, found first_item={first_item}, "
                f"num_items={num_items}"
            )
        weights = np.zeros(int(num_items))
        weights[first_item:] = 1.0
        super().__init__(weights, seed)
        self.first_item = int(first_item)

    def _draw(self, size) -> np.ndarray:
        return self._rng.integers(self.first_item, self.num_items, size=size, dtype=np.int64)


class PopularitySampler(_RejectionSampler):
    """Negatives with probability proportional to ``item_counts[j] ** alpha``.

    ``item_counts`` is indexed by item id (length V). Index 0 is padding and is never drawn,
    whatever its count; items with zero count are never drawn (even when ``alpha == 0``).
    ``alpha`` < 1 flattens the distribution towards uniform (word2vec uses 0.75).
    """

    def __init__(self, item_counts, seed: int = 0, alpha: float = 1.0) -> None:
        counts = np.asarray(item_counts, dtype=np.float64)
        if counts.ndim != 1 or not np.all(np.isfinite(counts)) or (counts < 0).any():
            raise ValueError("item_counts: expected a 1-D array of finite, non-negative counts")
        if not np.isfinite(alpha):
            raise ValueError(f"alpha must be finite, found {alpha!r}")
        weights = np.zeros_like(counts)
        positive = counts > 0
        weights[positive] = counts[positive] ** alpha
        weights[:1] = 0.0  # padding
        super().__init__(weights, seed)
        self.alpha = float(alpha)
        cdf = np.cumsum(weights)
        # Normalising by the last entry makes it exactly 1.0, so u in [0, 1) never selects
        # trailing zero-weight ids, and flat cdf steps (zero weights) are never hit.
        self._cdf = cdf / cdf[-1]

    @property
    def probabilities(self) -> np.ndarray:
        """Sampling probability of each id (before exclusions)."""
        return self._weights / self._weights.sum()

    def _draw(self, size) -> np.ndarray:
        return np.searchsorted(self._cdf, self._rng.random(size), side="right").astype(np.int64)
