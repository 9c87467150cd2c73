import numpy as np
import pytest

from tfrec_pkg.data.negatives import PopularitySampler, UniformSampler


def positives_and_histories(n=2000, num_items=50, seed=0):
    rng = np.random.default_rng(seed)
    positives = rng.integers(1, num_items, n)
    exclude = [rng.choice(np.arange(1, num_items), size=rng.integers(0, min(40, num_items - 1)), replace=False) for _ in range(n)]
    return positives, exclude


@pytest.mark.parametrize(
    "sampler",
    [UniformSampler(50, seed=1), PopularitySampler(np.arange(50) % 7, seed=1, alpha=0.75)],
    ids=["uniform", "popularity"],
)
def test_never_positive_nor_excluded(sampler):
    positives, exclude = positives_and_histories()
    exclude[0] = set(exclude[0].tolist())  # sets and lists are accepted too
    exclude[1] = exclude[1].tolist()
    neg = sampler.sample(positives, 20, exclude=exclude)
    assert neg.shape == (len(positives), 20) and neg.dtype == np.int64
    assert not (neg == positives[:, None]).any()
    for row, banned in zip(neg, exclude):
        assert not np.isin(row, list(banned)).any()
    assert (neg >= 1).all() and (neg < 50).all()  # padding 0 never sampled


def test_uniform_range_and_first_item():
    sampler = UniformSampler(10, seed=0, first_item=3)
    neg = sampler.sample(np.full(5000, 4), 4)
    assert set(np.unique(neg)) == {3, 5, 6, 7, 8, 9}


def test_popularity_matches_counts():
    counts = np.array([1000, 50, 0, 400, 10, 0, 300, 240])  # id 0 is padding despite its count
    sampler = PopularitySampler(counts, seed=7)
    neg = sampler.sample(np.zeros(20_000, dtype=np.int64), 10)  # 200k draws, no rejections
    freq = np.bincount(neg.ravel(), minlength=len(counts)) / neg.size
    expected = np.where(np.arange(len(counts)) == 0, 0, counts) / counts[1:].sum()
    np.testing.assert_allclose(sampler.probabilities, expected)
    assert freq[0] == 0 and freq[2] == 0 and freq[5] == 0  # padding and zero counts
    assert np.abs(freq - expected).max() < 0.01


def test_popularity_alpha_flattens_and_zero_counts_stay_out():
    counts = np.array([0, 1, 4, 16, 0])
    sampler = PopularitySampler(counts, alpha=0.5)
    np.testing.assert_allclose(sampler.probabilities, [0, 1 / 7, 2 / 7, 4 / 7, 0])
    flat = PopularitySampler(counts, alpha=0.0)
    np.testing.assert_allclose(flat.probabilities, [0, 1 / 3, 1 / 3, 1 / 3, 0])


def test_exclusion_renormalises_popularity():
    counts = np.array([0, 100, 300, 600])
    neg = PopularitySampler(counts, seed=2).sample(np.full(20_000, 1), 10, exclude=[[3]] * 20_000)
    freq = np.bincount(neg.ravel(), minlength=4) / neg.size
    assert freq[1] == 0 and freq[3] == 0
    assert freq[2] == 1.0


def test_deterministic_with_seed():
    positives, exclude = positives_and_histories(n=300)
    for make in (lambda s: UniformSampler(50, seed=s), lambda s: PopularitySampler(np.arange(50), seed=s)):
        a = make(11).sample(positives, 8, exclude=exclude)
        b = make(11).sample(positives, 8, exclude=exclude)
        c = make(12).sample(positives, 8, exclude=exclude)
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, c)


def test_unique_gives_distinct_negatives_per_row():
    positives, exclude = positives_and_histories(n=500, num_items=30)
    exclude = [e[:15] for e in exclude]  # leaves >= 13 allowed ids per row
    neg = UniformSampler(30, seed=5).sample(positives, 12, exclude=exclude, unique=True)
    for row, pos, banned in zip(neg, positives, exclude):
        assert len(set(row.tolist())) == 12
        assert pos not in row and not np.isin(row, banned).any()


def test_unique_can_take_every_allowed_item():
    # Exactly as many allowed ids as requested: rejection alone would struggle, must still work.
    neg = PopularitySampler(np.array([0, 1, 1, 1, 1000, 1000]), seed=0).sample(
        np.array([4, 5]), 3, exclude=[[5], [4]], unique=True
    )
    assert sorted(neg[0].tolist()) == [1, 2, 3] and sorted(neg[1].tolist()) == [1, 2, 3]


def test_rare_allowed_items_still_sampled():
    # Allowed ids carry ~1e-6 of the mass: rejection rounds run out, the exact fallback finishes.
    counts = np.array([0, 1, 1, 1_000_000])
    neg = PopularitySampler(counts, seed=0).sample(np.array([3, 3]), 50)
    assert set(np.unique(neg)) <= {1, 2}


def test_impossible_exclude_raises_clear_error():
    sampler = UniformSampler(6)
    with pytest.raises(ValueError, match=r"cannot sample 1 negative\(s\) for row 1: .* cover 5 of the 5 sampleable items, leaving 0"):
        sampler.sample(np.array([1, 2]), 3, exclude=[[], [1, 3, 4, 5]])
    with pytest.raises(ValueError, match=r"cannot sample 4 negative\(s\) for row 0: .* leaving 3"):
        sampler.sample(np.array([1]), 4, exclude=[[2]], unique=True)


def test_bad_arguments():
    sampler = UniformSampler(10)
    with pytest.raises(ValueError, match="expected ids in \\[0, 10\\)"):
        sampler.sample(np.array([10]), 2)
    with pytest.raises(ValueError, match="num_negatives must be a positive integer"):
        sampler.sample(np.array([1]), 0)
    with pytest.raises(ValueError, match="exclude: found 1 rows; expected one per positive \\(2\\)"):
        sampler.sample(np.array([1, 2]), 2, exclude=[[3]])
    with pytest.raises(ValueError, match="first_item"):
        UniformSampler(5, first_item=5)
    with pytest.raises(ValueError, match="non-negative counts"):
        PopularitySampler([0, 1, -1])
    with pytest.raises(ValueError, match="no item can be sampled"):
        PopularitySampler([5, 0, 0])
