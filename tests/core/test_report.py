"""Tests for smpcore.report."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from smpcore import format_sparsity_report, sparsity_report

from .strategies import bool_masks

mask_dicts = st.dictionaries(
    st.text(
        st.characters(codec="ascii", categories=["L", "N"]),
        min_size=1,
        max_size=10,
    ),
    bool_masks(),
    max_size=4,
)


@given(mask_dicts)
def test_report_counts(masks: dict) -> None:
    report = sparsity_report(masks)
    assert json.loads(json.dumps(report)) == report  # plain data
    assert list(report["matrices"]) == list(masks)
    for name, mask in masks.items():
        row = report["matrices"][name]
        kept, size = int(mask.sum()), mask.size
        assert row == {
            "kept": kept,
            "size": size,
            "density": kept / size if size else 0.0,
        }
        assert type(row["kept"]) is int and type(row["size"]) is int
    total_kept = sum(int(m.sum()) for m in masks.values())
    total_size = sum(m.size for m in masks.values())
    assert report["total"]["kept"] == total_kept
    assert report["total"]["size"] == total_size


@given(mask_dicts)
def test_format_is_a_fixed_width_table(masks: dict) -> None:
    report = sparsity_report(masks)
    lines = format_sparsity_report(report).split("\n")
    assert len(lines) == len(masks) + 4
    assert lines[0].split() == ["matrix", "kept", "size", "density"]
    assert lines[1] == lines[-2] and set(lines[1]) <= {"-", " "}
    widths = {len(line) for line in lines}
    assert len(widths) == 1  # every line equally wide
    for line, (name, row) in zip(
        lines[2:-2], report["matrices"].items(), strict=True
    ):
        assert line.split() == [
            name,
            str(row["kept"]),
            str(row["size"]),
            f"{100 * row['density']:.2f}%",
        ]
    total = report["total"]
    assert lines[-1].split()[:3] == [
        "total",
        str(total["kept"]),
        str(total["size"]),
    ]


def test_report_rejects_bad_inputs() -> None:
    with pytest.raises(TypeError, match=r"masks\['a'\]"):
        sparsity_report({"a": np.ones(3)})
    with pytest.raises(TypeError, match="masks"):
        sparsity_report([np.ones(3, bool)])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="report"):
        format_sparsity_report({"matrices": {}})
    with pytest.raises(ValueError, match="report"):
        format_sparsity_report({"matrices": {"a": {"kept": "1"}}, "total": {}})
