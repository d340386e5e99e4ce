"""Split sizes, distinct distractor sampling and density subsampling."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from addressvlm.data.distractors import nearest_names, sample_distinct
from addressvlm.data.splits import split_by_location, split_sizes
from addressvlm.data.subsample import subsample_locations, subsample_views


def test_split_sizes_sum_exactly():
    assert split_sizes(10, (0.7, 0.2, 0.1)) == [7, 2, 1]
    assert split_sizes(8208, (7410, 0, 798)) == [7410, 0, 798]
    for n in range(0, 40):
        assert sum(split_sizes(n, (0.7, 0.2, 0.1))) == n
    with pytest.raises(ValueError):
        split_sizes(5, (0.5, -0.1, 0.6))


def test_split_ignores_row_order():
    ids = np.array([f"L{i % 50}" for i in range(200)])
    order = np.random.default_rng(0).permutation(len(ids))
    first = dict(zip(ids, split_by_location(ids, seed=3)))
    second = dict(zip(ids[order], split_by_location(ids[order], seed=3)))
    assert first == second


def test_sample_distinct_excludes_and_is_uniform():
    rng = np.random.default_rng(0)
    exclude = rng.integers(0, 6, size=20000)
    draws = sample_distinct(rng, np.full(20000, 6), 3, exclude=exclude)
    assert (draws != exclude[:, None]).all()
    assert (np.sort(draws, axis=1)[:, 1:] != np.sort(draws, axis=1)[:, :-1]).all()
    counts = np.bincount(draws[exclude == 2].ravel(), minlength=6)
    assert counts[2] == 0
    others = counts[[0, 1, 3, 4, 5]]
    assert np.abs(others / others.sum() - 0.2).max() < 0.02
    all_needed = sample_distinct(rng, np.full(1000, 4), 3, exclude=np.zeros(1000, int))
    assert (np.sort(all_needed, axis=1) == [1, 2, 3]).all()
    with pytest.raises(ValueError, match="distinct"):
        sample_distinct(rng, np.full(3, 3), 3, exclude=np.zeros(3, int))


def test_nearest_names_order():
    ranking = nearest_names(np.array([0.0, 0.0, 0.0]), np.array([0.0, 1.0, 3.0]))
    assert ranking.tolist() == [[1, 2], [0, 2], [1, 0]]


def test_density_subsampling():
    frame = pd.DataFrame({"location_id": np.repeat([f"L{i}" for i in range(20)], 6), "v": np.arange(120)})
    views = subsample_views(frame, 2, seed=1)
    assert views.groupby("location_id").size().eq(2).all()
    locations = subsample_locations(frame, 0.25, seed=1)
    assert locations["location_id"].nunique() == 5 and len(locations) == 30
    with pytest.raises(ValueError):
        subsample_locations(frame, 1.5)
