"""IPRec figures (Sec. 5.4, interpretability): a user's combination attention gamma per clicked
package as a heat map (micro analysis, Fig. 3) and the share of users per main reason (macro
analysis, Fig. 4). gamma is ``IPRec.explain(features)["gamma"]`` [n, 7], columns in the order
of ``IntraPackageAttention.COMBINATIONS``.

The main reason of a user (Fig. 4) is, in the paper's words, the object or combination with
"the highest attention weight [...] in most packages interacted by the user": a vote over the
arg-max of gamma in each clicked package (``rule="vote"``, the default). ``rule="mean"`` takes
the combination with the highest mean gamma instead. Ties go to the first in COMBINATIONS order
(for the vote: the most votes, then the highest mean gamma, then that order).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from tfrec_pkg.layers.package import IntraPackageAttention

COMBINATIONS = IntraPackageAttention.COMBINATIONS


def _gamma_matrix(gamma) -> np.ndarray:
    z = np.asarray(gamma, dtype=np.float64)
    if z.ndim != 2 or z.shape[1] != len(COMBINATIONS):
        raise ValueError(f"gamma must have shape [n, {len(COMBINATIONS)}] (one column per "
                         f"combination in the order {COMBINATIONS}), got shape {z.shape}")
    if not np.isfinite(z).all():
        raise ValueError("gamma must be finite, got NaN or inf values")
    return z


def main_reasons(gamma, users, clicked=None, rule: str = "vote") -> pd.DataFrame:
    """gamma [n, 7], users [n] ids, clicked [n] 0/1 labels (only rows with clicked == 1 count
    when given) -> one row per user (index ``user``, sorted): the mean gamma per combination
    (columns ``COMBINATIONS``), ``main_reason`` (module docstring: ``rule`` "vote", the paper's,
    or "mean") and ``packages`` (the number of rows used). Users without a used row are absent."""
    if rule not in ("vote", "mean"):
        raise ValueError(f"rule must be 'vote' (the paper's) or 'mean', got {rule!r}")
    z = _gamma_matrix(gamma)
    n = z.shape[0]
    u = np.asarray(users)
    if u.ndim != 1 or u.shape[0] != n:
        raise ValueError(f"users must have shape [n] = [{n}] (one id per row of gamma), "
                         f"got shape {u.shape}")
    if clicked is not None:
        c = np.asarray(clicked)
        if c.ndim != 1 or c.shape[0] != n:
            raise ValueError(f"clicked must have shape [n] = [{n}] (one 0/1 label per row of "
                             f"gamma), got shape {c.shape}")
        if not np.isin(c, (0, 1)).all():
            raise ValueError(f"clicked must hold 0/1 labels, got values {np.unique(c)[:10]}")
        keep = c == 1
        z, u = z[keep], u[keep]

    frame = pd.DataFrame(z, columns=list(COMBINATIONS))
    frame.insert(0, "user", u)
    grouped = frame.groupby("user", sort=True)
    out = grouped[list(COMBINATIONS)].mean()
    score = out.to_numpy()
    if rule == "vote":  # votes first; the mean (< 1) only breaks ties between equal votes
        top = pd.DataFrame(np.eye(len(COMBINATIONS))[np.argmax(z, axis=1)], columns=list(COMBINATIONS))
        top.insert(0, "user", u)
        score = top.groupby("user", sort=True)[list(COMBINATIONS)].sum().to_numpy() + score / 2
    # np.argmax takes the first maximum: ties go to the earlier combination
    best = np.argmax(score, axis=1) if len(out) else np.zeros(0, dtype=int)
    out["main_reason"] = pd.Series([COMBINATIONS[i] for i in best], index=out.index)
    out["packages"] = grouped.size().astype(np.int64)
    return out


def reason_shares(main_reason) -> pd.Series:
    """Main reason per user (e.g. ``main_reasons(...)["main_reason"]``) -> share of users per
    combination, indexed by all of ``COMBINATIONS`` in order (0.0 where none), summing to 1."""
    r = pd.Series(np.asarray(main_reason, dtype=object).ravel())
    if len(r) == 0:
        raise ValueError("main_reason is empty: need at least one user's main reason")
    unknown = sorted({str(x) for x in r if x not in COMBINATIONS})
    if unknown:
        raise ValueError(f"main_reason holds names that are not combinations: {unknown}; "
                         f"expected names from {COMBINATIONS}")
    counts = r.value_counts().reindex(list(COMBINATIONS), fill_value=0)
    shares = counts.astype(np.float64) / len(r)
    shares.index.name = "combination"
    shares.name = "share"
    return shares


def package_gamma_heatmap(gamma, package_labels=None, ax=None,
                          title: str = "combination attention per package"):
    """Fig. 3 for one user: gamma [packages, 7] of the user's clicked packages, one row per
    package, one column per combination; colour scale fixed to [0, 1] so users compare."""
    import matplotlib.pyplot as plt

    z = _gamma_matrix(gamma)
    if package_labels is None:
        package_labels = [str(i) for i in range(z.shape[0])]
    package_labels = [str(p) for p in package_labels]
    if len(package_labels) != z.shape[0]:
        raise ValueError(f"package_labels must have one label per row of gamma "
                         f"({z.shape[0]}), got {len(package_labels)}")
    if ax is None:
        _, ax = plt.subplots(figsize=(4, max(1.6, 0.3 * z.shape[0] + 0.8)))
    image = ax.imshow(z, aspect="auto", cmap="Blues", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(len(COMBINATIONS)))
    ax.set_xticklabels(COMBINATIONS)
    ax.set_yticks(range(z.shape[0]))
    ax.set_yticklabels(package_labels)
    ax.set_xlabel("object / combination")
    ax.set_ylabel("package")
    ax.set_title(title)
    ax.figure.colorbar(image, ax=ax, label="gamma")
    return ax


def reason_share_plot(shares, ax=None, percent: bool = True, title: str = "main reason of users"):
    """Fig. 4: one bar per combination of ``reason_shares`` output (a Series indexed by
    combination name; a plain sequence of 7 is taken in COMBINATIONS order); ``percent``
    writes the share above each bar."""
    import matplotlib.pyplot as plt

    if isinstance(shares, pd.Series):
        names, values = [str(i) for i in shares.index], shares.to_numpy(dtype=np.float64)
    else:
        values = np.asarray(shares, dtype=np.float64)
        if values.shape != (len(COMBINATIONS),):
            raise ValueError(f"shares must be a pandas Series (as from reason_shares) or have "
                             f"shape [{len(COMBINATIONS)}] in the order {COMBINATIONS}, got "
                             f"shape {values.shape}")
        names = list(COMBINATIONS)
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 2.5))
    bars = ax.bar(np.arange(len(values)), values, 0.7)
    ax.set_xticks(np.arange(len(values)))
    ax.set_xticklabels(names)
    if percent:
        ax.bar_label(bars, labels=[f"{v:.0%}" for v in values], fontsize="small")
    ax.set_ylim(0, max(1e-6, float(values.max(initial=0.0))) * 1.15)
    ax.set_xlabel("main reason")
    ax.set_ylabel("share of users")
    ax.set_title(title)
    return ax
