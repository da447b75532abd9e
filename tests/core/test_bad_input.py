"""Regression tests for the bad inputs found by the smpcore fuzzing.

Each case below crashed with an undocumented exception, hung, or returned a
wrong value before it was fixed (see
``tests/reliability/test_fuzz_core.py``, which searches for more).
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

import smpcore
from smpcore.allocation import _apportion

M = 2**63 - 1  # the most entries an array can have


def test_ragged_arrays_name_the_parameter() -> None:
    ragged = [[1.0], [1.0, 2.0]]
    with pytest.raises(TypeError, match="`scores` must be an array-like"):
        smpcore.topk_mask(ragged, 0.5)
    with pytest.raises(TypeError, match="`decoder_kernel`"):
        smpcore.mlm_label_head(ragged, np.ones(2), [0])
    with pytest.raises(TypeError, match="`label_ids`"):
        smpcore.mlm_label_head(np.ones((3, 2)), np.ones(3), [[1, 2], [3]])
    with pytest.raises(TypeError, match="`packed`"):
        smpcore.unpack_reference_masks(ragged, {})


def test_numbers_beyond_the_float_range() -> None:
    with pytest.raises(ValueError, match="`size` must be an int <= "):
        smpcore.topk_count(10**400, 0.5)
    with pytest.raises(ValueError, match="`power` must be finite and > 0"):
        smpcore.regularization_schedule(
            final_weight=1, total_steps=2, power=10**400
        )
    with pytest.raises(ValueError, match="`value` must be finite"):
        smpcore.constant_schedule(-Fraction(10**400, 3))


def test_topk_count_stays_within_size_beyond_2_53() -> None:
    size = 2**54 - 1  # float(size) rounds up to 2**54
    assert smpcore.topk_count(size, 1.0) == size
    assert smpcore.topk_count(size, 1.0 - 2**-53) <= size
    assert smpcore.topk_count(2**54 + 1, 1.0) == 2**54 + 1


def test_threshold_is_compared_exactly_not_in_the_scores_dtype() -> None:
    scores = np.array([0.0999755859375, 0.0], np.float16)
    # A Python float would be rounded to float16 (0.09997 -> 0.09998).
    assert smpcore.threshold_mask(scores, 0.09997).tolist() == [True, False]
    # ... and 1e300 would overflow float16 with a RuntimeWarning.
    with np.errstate(over="raise"):
        assert not smpcore.threshold_mask(scores, 1e300).any()
    mask = smpcore.threshold_mask(scores, 0.4, sigmoid=np.bool_(True))
    assert mask.tolist() == [True, True]


def test_smp_s_shares_with_extreme_scores() -> None:
    groups = {"a": "g", "b": "g"}
    # Scores that underflowed (5e-324 / x) or overflowed (sum a_i n_i).
    one = smpcore.smp_s_densities(
        {"a": 5e-324}, {"a": 1}, {"a": "g"}, 0.5, exact=False
    )
    assert one == {"a": 0.5}
    huge = smpcore.smp_s_densities(
        {"a": 1e308, "b": 1e308}, {"a": 10, "b": 10}, groups, 0.5, exact=False
    )
    assert huge == {"a": 0.5, "b": 0.5}
    mixed = smpcore.smp_s_densities(
        {"a": 1e308, "b": 1e-308}, {"a": 1, "b": 1}, groups, 0.75, exact=False
    )
    assert mixed["a"] == 1.0 and mixed["b"] == pytest.approx(0.5)


def test_smp_s_with_huge_matrices_ends() -> None:
    """Group totals beyond 2**63 rounded past sum(caps): an endless loop."""
    sizes = {"a": M, "b": M, "c": M}
    scores = {"a": 1.0, "b": 1.0, "c": 1e-6}
    groups = dict.fromkeys(sizes, "g")
    result = smpcore.smp_s_densities(scores, sizes, groups, 1.0)
    assert result == {"a": 1.0, "b": 1.0, "c": 1.0}
    assert _apportion([2.0**65], [2**65 - 3], 2**65) == [2**65 - 3]


def test_label_word_ids_refuses_a_string_for_the_tokenizer() -> None:
    with pytest.raises(TypeError, match="`tokenizer_or_vocab` .* not a str"):
        smpcore.label_word_ids("bert-base-uncased", ["great"])


def test_mlm_label_head_checks_the_bias_dtype() -> None:
    with pytest.raises(TypeError, match="`decoder_bias` must have a floating"):
        smpcore.mlm_label_head(np.ones((3, 2)), np.array(["a", "b", "c"]), [0])


def test_format_sparsity_report_refuses_unprintable_rows() -> None:
    row = {"kept": 1, "size": 2, "density": 10**400}
    with pytest.raises(ValueError, match="`report` must be"):
        smpcore.format_sparsity_report({"matrices": {"x": row}, "total": row})
    scalar_rows = {"matrices": {"kept": np.float32(0.25)}, "total": row}
    with pytest.raises(ValueError, match="`report` must be"):
        smpcore.format_sparsity_report(scalar_rows)


def test_shapes_must_be_ordered_sequences() -> None:
    packed = np.zeros(1, np.uint8)
    with pytest.raises(TypeError, match="shapes\\['a'\\]"):
        smpcore.unpack_reference_masks(packed, {"a": {3: 1}})
    masks = smpcore.unpack_reference_masks(packed, {"a": np.array([2, 3])})
    assert masks["a"].shape == (2, 3)


def test_empty_reference_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.npy"
    path.write_bytes(b"")
    with pytest.raises(ValueError, match="`path` .* No data left"):
        smpcore.load_reference_masks(path, {"a": (3,)})


def test_cubic_schedule_stays_between_its_ends() -> None:
    schedule = smpcore.cubic_density_schedule(
        final_density=1.0, initial_density=1e-290, total_steps=2**54
    )
    assert 1e-290 <= schedule(1) <= 1.0
    late = smpcore.regularization_schedule(
        final_weight=400, total_steps=2**63 - 600_000, power=0.25
    )
    t = 2**63 - 600_008
    exact = 400 * (
        1 - float(Fraction(2**63 - 600_000 - t, 2**63 - 600_000)) ** 0.25
    )
    assert late(t) == pytest.approx(exact, rel=1e-12)
