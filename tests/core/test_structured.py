"""Tests for smpcore.structured: N:M masks, their check and parser."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import smpcore
from smpcore import is_nm_mask, nm_mask, nm_structure, topk_mask

from .strategies import (
    nm_masks,
    nm_structures,
    score_arrays,
    stable_nm_oracle,
)


@st.composite
def grouped_scores(
    draw: st.DrawFn, partial: bool = False
) -> tuple[np.ndarray, int, int, int]:
    """``(scores, n, m, axis)``: scores whose length along `axis` is a
    multiple of `m` (any length if `partial`)."""
    n, m = draw(nm_structures())
    other = draw(
        hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=4)
    )
    axis = draw(st.integers(0, len(other)))
    length = draw(st.integers(0, 4)) * m
    if partial:
        length += draw(st.integers(0, m - 1))
    shape = (*other[:axis], length, *other[axis:])
    scores = draw(score_arrays(st.just(shape)))
    return scores, n, m, draw(st.sampled_from([axis, axis - len(shape)]))


# --- nm_mask ----------------------------------------------------------------


@given(grouped_scores())
def test_nm_mask_matches_stable_sort_oracle(case: tuple) -> None:
    scores, n, m, axis = case
    mask = nm_mask(scores, n, m, axis=axis)
    assert mask.dtype == np.bool_ and mask.shape == scores.shape
    expected = stable_nm_oracle(np.moveaxis(scores, axis, 0), n, m)
    np.testing.assert_array_equal(np.moveaxis(mask, axis, 0), expected)


@given(grouped_scores())
def test_every_group_keeps_exactly_n(case: tuple) -> None:
    scores, n, m, axis = case
    mask = nm_mask(scores, n, m, axis=axis)
    moved = np.moveaxis(mask, axis, 0)
    groups = moved.reshape(moved.shape[0] // m, m, -1) if mask.size else None
    if groups is not None:
        assert np.all(groups.sum(axis=1) == n)
    assert int(mask.sum()) == mask.size * n // m
    assert is_nm_mask(mask, n, m, axis=axis)


@given(grouped_scores(partial=True))
def test_partial_last_group_keeps_min_n_r(case: tuple) -> None:
    scores, n, m, axis = case
    mask = nm_mask(scores, n, m, axis=axis, partial=True)
    expected = stable_nm_oracle(np.moveaxis(scores, axis, 0), n, m)
    np.testing.assert_array_equal(np.moveaxis(mask, axis, 0), expected)
    assert is_nm_mask(mask, n, m, axis=axis, partial=True)
    length = scores.shape[axis]
    if length % m:
        assert not is_nm_mask(mask, n, m, axis=axis)
        with pytest.raises(ValueError, match="multiple of m="):
            nm_mask(scores, n, m, axis=axis)


@given(score_arrays(hnp.array_shapes(min_dims=1, max_dims=1, min_side=1)))
def test_one_group_is_topk(scores: np.ndarray) -> None:
    m = scores.size
    for n in range(1, m + 1):
        np.testing.assert_array_equal(
            nm_mask(scores, n, m), topk_mask(scores, n / m)
        )


@given(grouped_scores(), st.data())
def test_nm_masks_are_nested_in_n(case: tuple, data: st.DataObject) -> None:
    scores, n, m, axis = case
    smaller = data.draw(st.integers(1, n))
    small = nm_mask(scores, smaller, m, axis=axis)
    assert not np.any(small & ~nm_mask(scores, n, m, axis=axis))


def test_groups_run_along_the_inputs_of_a_keras_kernel() -> None:
    # (in_features=4, out_features=2): each column is one output unit.
    kernel = np.array([[0.1, 4.0], [0.9, 3.0], [0.5, 3.0], [0.2, 3.0]])
    np.testing.assert_array_equal(
        nm_mask(kernel, 2, 4),
        [[False, True], [True, True], [True, False], [False, False]],
    )
    # The PyTorch layout (out, in) groups along the last axis.
    np.testing.assert_array_equal(
        nm_mask(kernel.T, 2, 4, axis=-1), nm_mask(kernel, 2, 4).T
    )


def test_ties_and_signed_zeros_go_to_the_lowest_index() -> None:
    scores = np.array([-0.0, 0.0, -0.0, 0.0, 1.0, 1.0, 1.0, 1.0], np.float16)
    np.testing.assert_array_equal(
        nm_mask(scores, 2, 4), [1, 1, 0, 0, 1, 1, 0, 0]
    )
    fortran = np.asfortranarray(np.zeros((4, 3)))
    np.testing.assert_array_equal(
        nm_mask(fortran, 1, 2), np.tile([[1], [0]], (2, 3)).astype(bool)
    )


def test_n_equal_m_keeps_everything_and_empty_shapes() -> None:
    assert nm_mask(np.zeros((4, 3)), 4, 4).all()
    assert nm_mask(np.zeros((0, 3)), 2, 4).shape == (0, 3)
    assert nm_mask(np.zeros((8, 0)), 2, 4).shape == (8, 0)


def test_nm_mask_does_not_sort(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)
    scores = rng.standard_normal((64, 48)).astype(np.float32)
    scores[::3] = 0.5  # many ties
    expected = stable_nm_oracle(scores, 2, 4)

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("nm_mask must not sort")

    for name in ("sort", "argsort", "lexsort"):
        monkeypatch.setattr(np, name, forbidden)
    np.testing.assert_array_equal(nm_mask(scores, 2, 4), expected)


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "match"),
    [
        ((np.zeros(4), 0, 4), {}, ValueError, r"`n` must be an int >= 1"),
        ((np.zeros(4), 5, 4), {}, ValueError, r"`n` must be <= `m`.*n=5, m=4"),
        ((np.zeros(4), 1, 0), {}, ValueError, r"`m` must be .*m=0"),
        ((np.zeros(4), 2.0, 4), {}, TypeError, r"`n` must be an int"),
        ((np.zeros(4), True, 4), {}, TypeError, r"`n`"),
        ((np.zeros(4), 2, "4"), {}, TypeError, r"`m`.*'4'"),
        ((np.zeros(4), 2, 4), {"axis": 1}, ValueError, r"`axis`.*axis=1"),
        ((np.zeros(4), 2, 4), {"axis": -2}, ValueError, r"`axis`.*axis=-2"),
        ((np.zeros(4), 2, 4), {"axis": 0.0}, TypeError, r"`axis`"),
        ((np.zeros(4), 2, 4), {"partial": 1}, TypeError, r"`partial`"),
        ((np.float64(1), 1, 1), {}, ValueError, r"`scores` .*one dimension"),
        ((np.arange(4), 2, 4), {}, TypeError, r"`scores` must have a float"),
        (([0.0, np.nan], 1, 2), {}, ValueError, r"`scores`.*non-finite"),
        (
            (np.zeros((6, 3)), 2, 4),
            {},
            ValueError,
            r"`scores` must have a multiple of m=4 entries along axis 0.*"
            r"shape=\(6, 3\).*partial=True",
        ),
    ],
)
def test_nm_mask_rejects_bad_arguments(
    args: tuple, kwargs: dict, error: type, match: str
) -> None:
    with pytest.raises(error, match=match):
        nm_mask(*args, **kwargs)


# --- is_nm_mask -------------------------------------------------------------


@given(nm_masks(), st.data())
def test_is_nm_mask_detects_one_flipped_entry(
    case: tuple, data: st.DataObject
) -> None:
    mask, n, m = case
    assert is_nm_mask(mask, n, m)
    if mask.size:
        index = data.draw(st.integers(0, mask.size - 1))
        flipped = mask.copy()
        flipped.flat[index] ^= True
        assert not is_nm_mask(flipped, n, m)


def test_is_nm_mask_is_exact_not_at_most() -> None:
    fewer = np.array([True, False, False, False, True, True, False, False])
    assert not is_nm_mask(fewer, 2, 4)  # 1 then 2 kept: not exact 2:4
    assert not is_nm_mask(np.ones(6, bool), 2, 4)  # 6 is not a multiple
    assert is_nm_mask(
        np.array([True, False, False, True, True]), 2, 4, partial=True
    )  # the last group of one entry keeps min(2, 1)
    assert not is_nm_mask(np.ones(5, bool), 2, 4, partial=True)


@pytest.mark.parametrize(
    ("mask", "kwargs", "error", "match"),
    [
        (np.ones(4), {}, TypeError, r"`mask` must be a NumPy array with dtype"),
        ([True, False], {}, TypeError, r"`mask`"),
        (np.array(True), {}, ValueError, r"`mask` .*one dimension"),
        (np.ones(4, bool), {"partial": "no"}, TypeError, r"`partial`"),
        (np.ones(4, bool), {"axis": 3}, ValueError, r"`axis`"),
    ],
)
def test_is_nm_mask_rejects_bad_arguments(
    mask: object, kwargs: dict, error: type, match: str
) -> None:
    with pytest.raises(error, match=match):
        is_nm_mask(mask, 2, 4, **kwargs)


# --- nm_structure -----------------------------------------------------------


@given(nm_structures(max_m=10**6), st.sampled_from(["{}:{}", " {} : {} "]))
def test_nm_structure_parses(structure: tuple, template: str) -> None:
    assert nm_structure(template.format(*structure)) == structure


@pytest.mark.parametrize(
    "text",
    [
        "",
        "2",
        "2/4",
        "2:4:8",
        "-2:4",
        "+2:4",
        "2.0:4",
        "0:4",
        "5:4",
        "a:b",
        "２:４",
        "2:",
    ],
)
def test_nm_structure_rejects_bad_text(text: str) -> None:
    received = re.escape(f"Received: text={text!r}")
    with pytest.raises(ValueError, match=f"^`text` must .*{received}$"):
        nm_structure(text)


def test_nm_structure_rejects_non_strings() -> None:
    with pytest.raises(TypeError, match=r"`text` must be a string 'N:M'"):
        nm_structure((2, 4))  # type: ignore[arg-type]


def test_exports() -> None:
    assert smpcore.nm_mask is nm_mask
    assert smpcore.nm_structure is nm_structure
    assert smpcore.is_nm_mask is is_nm_mask
