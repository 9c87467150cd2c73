"""MuSENet figures (Sec. 4.2.4): the samples' embeddings in 2-D coloured by learned scenario
(Fig. 5a; PCA of f_omega(x), computed with numpy's SVD) and the per-scenario means of raw
context fields and of the repeat rate (Fig. 5b)."""
from __future__ import annotations

import numpy as np
import pandas as pd


def pca_2d(embeddings) -> np.ndarray:
    """[n, e] -> [n, 2]: the projections on the two leading principal axes (centred data)."""
    x = np.asarray(embeddings, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"embeddings must have shape [n >= 2, e], got {x.shape}")
    x = x - x.mean(0)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    out = x @ vt[:2].T
    return out if out.shape[1] == 2 else np.pad(out, ((0, 0), (0, 2 - out.shape[1])))


def scenario_profile(frame: pd.DataFrame, scenario, columns) -> pd.DataFrame:
    """Mean of ``columns`` of ``frame`` per scenario (rows: the scenarios, sorted) plus the
    share of samples in each (``share``): Fig. 5b's table."""
    scenario = np.asarray(scenario)
    if len(scenario) != len(frame):
        raise ValueError(f"scenario has {len(scenario)} entries for {len(frame)} rows")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"columns {missing} are not in the frame; it has {sorted(frame.columns)}")
    grouped = frame[list(columns)].groupby(scenario)
    out = grouped.mean()
    out["share"] = grouped.size() / len(frame)
    out.index.name = "scenario"
    return out


def scenario_scatter(embeddings, scenario, ax=None, title: str = "samples by learned scenario"):
    """Fig. 5a: PCA of the embeddings, one colour per scenario; returns the Axes."""
    import matplotlib.pyplot as plt

    xy, scenario = pca_2d(embeddings), np.asarray(scenario)
    if len(scenario) != len(xy):
        raise ValueError(f"scenario has {len(scenario)} entries for {len(xy)} embeddings")
    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 4))
    for s in np.unique(scenario):
        keep = scenario == s
        ax.scatter(xy[keep, 0], xy[keep, 1], s=6, label=f"s{s}")
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.set_title(title)
    ax.legend(markerscale=2)
    return ax


def scenario_profile_plot(profile: pd.DataFrame, ax=None, title: str = "per-scenario means"):
    """Fig. 5b: grouped bars of :func:`scenario_profile`'s columns (``share`` left out)."""
    import matplotlib.pyplot as plt

    table = profile.drop(columns=["share"], errors="ignore")
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.5))
    table.T.plot.bar(ax=ax, rot=0)
    ax.set_ylabel("mean")
    ax.set_title(title)
    ax.legend([f"s{s}" for s in table.index], title="scenario")
    return ax
