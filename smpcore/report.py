"""Per-matrix and total density of a set of masks.

:func:`sparsity_report` returns plain data (ints, floats, str keys) that
serialises to JSON as is; :func:`format_sparsity_report` renders it as a
fixed-width table. Densities are fractions of weights kept (remaining
weights), as everywhere in smpcore.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from smpcore.validation import as_bool_array, check_mapping

__all__ = [
    "format_sparsity_report",
    "sparsity_report",
]


def _entry(kept: int, size: int) -> dict[str, Any]:
    """One report row; an empty matrix has density 0.0."""
    return {"kept": kept, "size": size, "density": kept / size if size else 0.0}


def sparsity_report(masks: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """Counts the kept weights of every mask and of all of them together.

    Args:
        masks: Mapping of names to bool arrays.

    Returns:
        ``{"matrices": {name: {"kept": int, "size": int, "density": float}},
        "total": {"kept": int, "size": int, "density": float}}``, matrices in
        the order of `masks`. The density of an empty matrix (or of an empty
        total) is 0.0.

    Raises:
        TypeError: If `masks` is not a mapping of str to bool arrays.

    Example:
        >>> mask = np.array([True, False, False, True])
        >>> report = sparsity_report({"q": mask})
        >>> report["total"]
        {'kept': 2, 'size': 4, 'density': 0.5}
    """
    check_mapping(masks, "masks")
    matrices = {}
    for name, mask in masks.items():
        mask = as_bool_array(mask, f"masks[{name!r}]")
        matrices[name] = _entry(int(np.count_nonzero(mask)), int(mask.size))
    kept = sum(row["kept"] for row in matrices.values())
    size = sum(row["size"] for row in matrices.values())
    return {"matrices": matrices, "total": _entry(kept, size)}


def _is_float(value: int | float) -> bool:
    """Whether `value` converts to a float (huge ints do not)."""
    try:
        float(value)
    except OverflowError:
        return False
    return True


def _checked_report(report: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """Checks the structure produced by :func:`sparsity_report`."""
    try:
        matrices, total = dict(report["matrices"]), dict(report["total"])
        rows = [*matrices.values(), total]
        ok = all(
            isinstance(row[key], int | float) and _is_float(row[key])
            for row in rows
            for key in ("kept", "size", "density")
        )
    except (KeyError, IndexError, TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(
            "`report` must be the output of `sparsity_report` (keys "
            "'matrices' and 'total', rows with 'kept', 'size', 'density'). "
            f"Received: {type(report).__name__}"
        )
    return matrices, total


def format_sparsity_report(report: Mapping[str, Any]) -> str:
    """Renders a :func:`sparsity_report` as a fixed-width text table.

    Columns: name, kept, size and density in percent (two decimals); the
    last row is the total. The name column is as wide as the longest name.

    Args:
        report: The output of :func:`sparsity_report`.

    Returns:
        The table as one string, lines joined by ``"\\n"``.

    Raises:
        ValueError: If `report` does not have the expected structure.

    Example:
        >>> masks = {"layer_0/query": np.array([True, False, False, False])}
        >>> print(format_sparsity_report(sparsity_report(masks)))
        matrix         kept  size  density
        -------------  ----  ----  -------
        layer_0/query     1     4   25.00%
        -------------  ----  ----  -------
        total             1     4   25.00%
    """
    matrices, total = _checked_report(report)
    rows = [(str(name), row) for name, row in matrices.items()]
    rows.append(("total", total))
    name_w = max(len("matrix"), *(len(name) for name, _ in rows))
    kept_w = max(len("kept"), *(len(str(row["kept"])) for _, row in rows))
    size_w = max(len("size"), *(len(str(row["size"])) for _, row in rows))

    def line(name: str, kept: str, size: str, density: str) -> str:
        return (
            f"{name:<{name_w}}  {kept:>{kept_w}}  {size:>{size_w}}  "
            f"{density:>7}"
        ).rstrip()

    rule = line("-" * name_w, "-" * kept_w, "-" * size_w, "-" * 7)
    body = [
        line(name, str(row["kept"]), str(row["size"]), f"{row['density']:.2%}")
        for name, row in rows
    ]
    return "\n".join(
        [line("matrix", "kept", "size", "density"), rule, *body[:-1], rule]
        + body[-1:]
    )
