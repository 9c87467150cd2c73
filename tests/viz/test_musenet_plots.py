"""MuSENet figure helpers (tfrec_pkg/viz/musenet_plots.py): PCA against hand-checked cases,
the per-scenario profile table, and the two plots' contents."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from tfrec_pkg.viz.musenet_plots import pca_2d, scenario_profile, scenario_profile_plot, scenario_scatter


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def test_pca_finds_the_leading_axis():
    rng = np.random.default_rng(0)
    t = rng.normal(size=200)
    x = np.stack([3 * t, 3 * t, 0.01 * rng.normal(size=200)], 1)   # all variance along (1, 1, 0)
    xy = pca_2d(x)
    assert abs(np.corrcoef(xy[:, 0], t)[0, 1]) > 0.999
    assert xy[:, 1].std() < 0.05 * xy[:, 0].std()
    np.testing.assert_allclose(xy.mean(0), 0.0, atol=1e-9)
    assert pca_2d(np.array([[1.0], [2.0], [4.0]])).shape == (3, 2)   # one dimension: padded
    with pytest.raises(ValueError, match="shape"):
        pca_2d(np.ones(3))


def test_scenario_profile_means_and_shares():
    frame = pd.DataFrame({"price": [1.0, 3.0, 10.0, 20.0], "repeat": [0, 1, 1, 1]})
    out = scenario_profile(frame, [1, 1, 0, 0], ["price", "repeat"])
    assert list(out.index) == [0, 1]
    np.testing.assert_allclose(out.loc[0, ["price", "repeat", "share"]].to_numpy(float), [15.0, 1.0, 0.5])
    np.testing.assert_allclose(out.loc[1, ["price", "repeat", "share"]].to_numpy(float), [2.0, 0.5, 0.5])
    with pytest.raises(ValueError, match="not in the frame"):
        scenario_profile(frame, [0, 0, 1, 1], ["distance"])
    with pytest.raises(ValueError, match="entries"):
        scenario_profile(frame, [0, 1], ["price"])


def test_plots_draw_one_group_per_scenario():
    rng = np.random.default_rng(1)
    ax = scenario_scatter(rng.normal(size=(30, 4)), np.repeat([0, 1, 2], 10))
    assert len(ax.collections) == 3 and [t.get_text() for t in ax.get_legend().get_texts()] == ["s0", "s1", "s2"]
    profile = scenario_profile(pd.DataFrame({"a": rng.normal(size=30), "b": rng.normal(size=30)}),
                               np.repeat([0, 1, 2], 10), ["a", "b"])
    ax = scenario_profile_plot(profile)
    assert len(ax.patches) == 6   # 2 fields x 3 scenarios, share left out
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b"]
