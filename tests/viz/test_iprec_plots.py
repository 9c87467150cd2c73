"""IPRec interpretability helpers (Sec. 5.4): main reason per user and the share of users per
reason (Fig. 4), the per-package gamma heat map (Fig. 3) and the share bar chart."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

import tfrec_pkg  # noqa: F401
from tfrec_pkg.layers.package import IntraPackageAttention
from tfrec_pkg.viz.iprec_plots import (COMBINATIONS, main_reasons, package_gamma_heatmap,
                                       reason_share_plot, reason_shares)

# columns: a, m, f, a*m, a*f, m*f, a*m*f
GAMMA = np.array([
    [0.5, 0.1, 0.1, 0.1, 0.1, 0.1, 0.0],      # user 20
    [0.1, 0.1, 0.6, 0.05, 0.05, 0.05, 0.05],  # user 10
    [0.1, 0.1, 0.1, 0.5, 0.1, 0.1, 0.0],      # user 20
    [0.1, 0.1, 0.4, 0.1, 0.1, 0.1, 0.1],      # user 10
    [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0],      # user 30
])
USERS = np.array([20, 10, 20, 10, 30])


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_combinations_are_the_layers_order():
    assert COMBINATIONS is IntraPackageAttention.COMBINATIONS
    assert COMBINATIONS == ("a", "m", "f", "a*m", "a*f", "m*f", "a*m*f")


def test_main_reasons_means_argmax_and_counts_per_sorted_user():
    out = main_reasons(GAMMA, USERS, rule="mean")
    assert list(out.index) == [10, 20, 30]
    assert list(out.columns) == list(COMBINATIONS) + ["main_reason", "packages"]
    np.testing.assert_allclose(out.loc[10, list(COMBINATIONS)].to_numpy(dtype=float),
                               [0.1, 0.1, 0.5, 0.075, 0.075, 0.075, 0.075])
    np.testing.assert_allclose(out.loc[20, list(COMBINATIONS)].to_numpy(dtype=float),
                               [0.3, 0.1, 0.1, 0.3, 0.1, 0.1, 0.0])
    np.testing.assert_allclose(out.loc[30, list(COMBINATIONS)].to_numpy(dtype=float),
                               [0, 0, 0, 0, 0, 0, 1.0])
    # user 20: "a" and "a*m" tie at 0.3 -> the first in COMBINATIONS order
    assert list(out["main_reason"]) == ["f", "a", "a*m*f"]
    assert list(out["packages"]) == [2, 2, 1]


def test_main_reasons_tie_goes_to_the_first_combination():
    g = np.array([[0.0, 0.1, 0.0, 0.35, 0.0, 0.35, 0.2],     # "a*m" vs "m*f"
                  [0.1, 0.0, 0.3, 0.0, 0.0, 0.3, 0.3]])      # "f" vs "m*f" vs "a*m*f"
    out = main_reasons(g, ["x", "y"], rule="mean")
    assert list(out["main_reason"]) == ["a*m", "f"]
    assert list(main_reasons(g, ["x", "y"])["main_reason"]) == ["a*m", "f"]  # one package: same vote


def test_main_reasons_vote_is_the_papers_rule_and_differs_from_the_mean():
    # "in most packages": a wins two of three packages narrowly, f wins one by far
    g = np.array([[0.40, 0.0, 0.35, 0.1, 0.05, 0.05, 0.05],
                  [0.40, 0.0, 0.35, 0.1, 0.05, 0.05, 0.05],
                  [0.00, 0.0, 0.95, 0.0, 0.05, 0.00, 0.00]])
    assert main_reasons(g, [1, 1, 1])["main_reason"].tolist() == ["a"]
    assert main_reasons(g, [1, 1, 1], rule="mean")["main_reason"].tolist() == ["f"]
    # equal votes (a once, f once): the higher mean gamma wins
    assert main_reasons(g[1:], [1, 1])["main_reason"].tolist() == ["f"]
    with pytest.raises(ValueError, match="rule"):
        main_reasons(g, [1, 1, 1], rule="max")


def test_main_reasons_clicked_filter_and_absent_users():
    # unfiltered user 20 is "a" (tie); with only its second (clicked) package it is "a*m"
    out = main_reasons(GAMMA, USERS, clicked=[0, 1, 1, 0, 0], rule="mean")
    assert list(out.index) == [10, 20]                     # user 30 has no click -> absent
    np.testing.assert_allclose(out.loc[10, list(COMBINATIONS)].to_numpy(dtype=float), GAMMA[1])
    np.testing.assert_allclose(out.loc[20, list(COMBINATIONS)].to_numpy(dtype=float), GAMMA[2])
    assert list(out["main_reason"]) == ["f", "a*m"]
    assert list(out["packages"]) == [1, 1]
    # boolean labels behave the same
    assert list(main_reasons(GAMMA, USERS, np.array([0, 1, 1, 0, 0], bool))["main_reason"]) == ["f", "a*m"]
    empty = main_reasons(GAMMA, USERS, clicked=np.zeros(5))
    assert len(empty) == 0
    assert list(empty.columns) == list(COMBINATIONS) + ["main_reason", "packages"]


@pytest.mark.parametrize("gamma, users, clicked, match", [
    (GAMMA[:, :6], USERS, None, r"gamma must have shape \[n, 7\].*\(5, 6\)"),
    (GAMMA[0], USERS[:1], None, r"gamma must have shape \[n, 7\].*\(7,\)"),
    (GAMMA, USERS[:4], None, r"users must have shape \[n\] = \[5\].*\(4,\)"),
    (GAMMA, USERS[:, None], None, r"users must have shape \[n\] = \[5\].*\(5, 1\)"),
    (GAMMA, USERS, [1, 0, 1], r"clicked must have shape \[n\] = \[5\].*\(3,\)"),
    (GAMMA, USERS, [1, 0, 2, 1, 1], r"clicked must hold 0/1 labels"),
    (np.where(np.eye(5, 7) > 0, np.nan, GAMMA), USERS, None, r"gamma must be finite"),
])
def test_main_reasons_rejects_bad_input(gamma, users, clicked, match):
    with pytest.raises(ValueError, match=match):
        main_reasons(gamma, users, clicked)


def test_reason_shares_values_order_and_zeros():
    shares = reason_shares(["a", "a*m", "a", "f"])
    assert list(shares.index) == list(COMBINATIONS)
    np.testing.assert_allclose(shares.to_numpy(), [0.5, 0.0, 0.25, 0.25, 0.0, 0.0, 0.0])
    assert shares.sum() == pytest.approx(1.0)
    # straight from main_reasons: users 10 "f", 20 "a", 30 "a*m*f"
    from_frame = reason_shares(main_reasons(GAMMA, USERS)["main_reason"])
    np.testing.assert_allclose(from_frame.to_numpy(), [1 / 3, 0, 1 / 3, 0, 0, 0, 1 / 3])


def test_reason_shares_rejects_empty_and_unknown_names():
    with pytest.raises(ValueError, match="empty"):
        reason_shares([])
    with pytest.raises(ValueError, match=r"not combinations: \['a\+m'\]"):
        reason_shares(["a", "a+m"])


def test_package_gamma_heatmap_rows_ticks_and_colorbar():
    g = GAMMA[[1, 3]]
    ax = package_gamma_heatmap(g, package_labels=["p7", "p9"])
    np.testing.assert_allclose(ax.images[0].get_array(), g)
    assert [t.get_text() for t in ax.get_xticklabels()] == list(COMBINATIONS)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["p7", "p9"]
    assert len(ax.figure.axes) == 2                        # the heat map and its colorbar
    assert ax.images[0].get_clim() == (0.0, 1.0)
    default = package_gamma_heatmap(GAMMA)
    assert [t.get_text() for t in default.get_yticklabels()] == ["0", "1", "2", "3", "4"]
    with pytest.raises(ValueError, match="one label per row of gamma"):
        package_gamma_heatmap(g, package_labels=["p7"])


def test_reason_share_plot_bars_ticks_and_percent_labels():
    shares = reason_shares(["a", "a*m", "a", "f"])
    ax = reason_share_plot(shares)
    assert len(ax.patches) == 7
    np.testing.assert_allclose([p.get_height() for p in ax.patches], shares.to_numpy())
    assert [t.get_text() for t in ax.get_xticklabels()] == list(COMBINATIONS)
    assert [t.get_text() for t in ax.texts] == ["50%", "0%", "25%", "25%", "0%", "0%", "0%"]
    plain = reason_share_plot(shares.to_numpy(), percent=False)
    assert [t.get_text() for t in plain.get_xticklabels()] == list(COMBINATIONS)
    np.testing.assert_allclose([p.get_height() for p in plain.patches], shares.to_numpy())
    assert len(plain.texts) == 0
    with pytest.raises(ValueError, match=r"shape \[7\]"):
        reason_share_plot([0.5, 0.5])
