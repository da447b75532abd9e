"""N:M structured masks: `n` kept weights in every group of `m`.

An N:M mask keeps exactly `n` weights in each group of `m` consecutive
weights along the input dimension of a matrix, for every output unit. Sparse
tensor cores run such matrices at up to twice the dense speed for 2:4
(Mishra et al., "Accelerating Sparse Deep Neural Networks",
arXiv:2104.08378, section 3): the constraint applies along the reduction
dimension of the matrix product, which is the *input* dimension of a layer.
Keras kernels are ``(in_features, out_features)``, so groups run along
**axis 0** by default (the rows of a PyTorch ``(out, in)`` weight, along
its last axis).

Ranking follows :func:`smpcore.topk_mask`: scores are compared exactly in
their own dtype and ties go to the **lowest index** within the group.
Each full group keeps exactly `n`; no sort is done (a selection per group).

A dimension that is not a multiple of `m` is an error by default: hardware
that runs N:M matrices needs the reduction dimension to be a multiple of
`m`, and a silent short group would give a mask it cannot use. With
``partial=True`` the last group of ``r < m`` entries keeps ``min(n, r)``,
as if the axis were padded to a multiple of `m` with entries that are never
kept: exactly what a zero-padded kernel stores on such hardware.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

from smpcore.masks import _checked_scores, _topk_rows
from smpcore.validation import as_bool_array, check_bool, check_int

__all__ = [
    "check_nm",
    "check_structure",
    "is_nm_mask",
    "nm_mask",
    "nm_structure",
]

_NM_TEXT = re.compile(r"\s*(\d+)\s*:\s*(\d+)\s*", re.ASCII)


def check_nm(n: Any, m: Any, name: str = "") -> tuple[int, int]:
    """Checks an N:M pair: ints with ``1 <= n <= m``.

    Args:
        n: Entries kept per group.
        m: Group size.
        name: The parameter the pair came from (errors say ``name[0]``,
            ``name[1]``); empty means the errors name `n` and `m`.

    Returns:
        ``(n, m)`` as Python ints.

    Raises:
        TypeError: If `n` or `m` is not an int.
        ValueError: If not ``1 <= n <= m``.

    Example:
        >>> check_nm(2, 4)
        (2, 4)
    """
    n = check_int(n, f"{name}[0]" if name else "n", minimum=1)
    m = check_int(m, f"{name}[1]" if name else "m", minimum=1)
    if n > m:
        received = f"{name}=({n}, {m})" if name else f"n={n}, m={m}"
        raise ValueError(f"`n` must be <= `m`. Received: {received}")
    return n, m


def _parsed_nm(text: Any, name: str) -> tuple[int, int]:
    """Parses ``"N:M"`` into ``(n, m)``; errors name `name`."""
    if not isinstance(text, str):
        raise TypeError(
            f"`{name}` must be a string 'N:M' such as '2:4'. Received: "
            f"{name}={text!r} of type {type(text).__name__}"
        )
    match = _NM_TEXT.fullmatch(text)
    if match is None:
        raise ValueError(
            f"`{name}` must be a string 'N:M' of two positive integers, such "
            f"as '2:4'. Received: {name}={text!r}"
        )
    n, m = int(match[1]), int(match[2])
    if not 1 <= n <= m:
        raise ValueError(
            f"`{name}` must have 1 <= N <= M. Received: {name}={text!r}"
        )
    return n, m


def nm_structure(text: str) -> tuple[int, int]:
    """Parses an N:M structure such as ``"2:4"`` into ``(n, m)``.

    Spaces around the numbers are allowed; signs, decimals and other
    separators are not.

    Args:
        text: ``"N:M"`` with integers ``1 <= N <= M``.

    Returns:
        The pair ``(n, m)`` of Python ints.

    Raises:
        TypeError: If `text` is not a str.
        ValueError: If `text` is not of the form ``"N:M"`` or not
            ``1 <= N <= M``.

    Example:
        >>> nm_structure("2:4")
        (2, 4)
        >>> nm_structure(" 4 : 8 ")
        (4, 8)
    """
    return _parsed_nm(text, "text")


def check_structure(structure: Any, name: str = "structure") -> tuple[int, int]:
    """Checks an N:M structure given as ``(n, m)`` or as ``"N:M"``.

    Args:
        structure: An ``(n, m)`` pair (tuple or list) or a string such as
            ``"2:4"`` (:func:`nm_structure`).
        name: The parameter's name, for error messages.

    Returns:
        ``(n, m)`` as Python ints with ``1 <= n <= m``.

    Raises:
        TypeError: If `structure` is neither a pair nor a str.
        ValueError: If it is not of the form ``"N:M"`` or not
            ``1 <= n <= m``.

    Example:
        >>> check_structure("2:4"), check_structure((4, 8))
        ((2, 4), (4, 8))
    """
    if isinstance(structure, str):
        return _parsed_nm(structure, name)
    if not isinstance(structure, tuple | list) or len(structure) != 2:
        raise TypeError(
            f"`{name}` must be an (n, m) pair or a string 'N:M'. Received: "
            f"{name}={structure!r}"
        )
    return check_nm(structure[0], structure[1], name)


def _moved(array: np.ndarray, axis: Any, name: str) -> tuple[np.ndarray, int]:
    """`array` as 2-D ``(length along axis, rest)``, and the checked axis."""
    if array.ndim == 0:
        raise ValueError(
            f"`{name}` must have at least one dimension. Received: {name} "
            "with shape=()"
        )
    axis = check_int(axis, "axis", minimum=-array.ndim, maximum=array.ndim - 1)
    moved = np.moveaxis(array, axis, 0)
    return moved.reshape(moved.shape[0], math.prod(moved.shape[1:])), axis


def _groups(columns: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Splits ``(length, rest)`` into full groups ``(-1, m)`` and the tail.

    The tail holds the last ``length % m`` rows, as ``(rest, length % m)``.
    """
    length, rest = columns.shape
    full = length - length % m
    blocks = columns[:full].reshape(full // m, m, rest)
    return blocks.transpose(0, 2, 1).reshape(-1, m), columns[full:].T


def _nm_mask(
    scores: np.ndarray, n: int, m: int, axis: Any, partial: Any, name: str
) -> np.ndarray:
    """:func:`nm_mask` on checked scores; errors name `name`."""
    columns, axis = _moved(scores, axis, name)
    if not check_bool(partial, "partial") and scores.shape[axis] % m:
        raise ValueError(
            f"`{name}` must have a multiple of m={m} entries along axis "
            f"{axis} for N:M groups. Received: {name} with "
            f"shape={scores.shape}; pass partial=True to let the last group "
            "of r entries keep min(n, r)"
        )
    groups, tail = _groups(columns, m)
    length, rest = columns.shape
    full = length - tail.shape[1]
    mask = np.empty(columns.shape, dtype=bool)
    kept = _topk_rows(groups, n).reshape(full // m, rest, m)
    mask[:full] = kept.transpose(0, 2, 1).reshape(full, rest)
    mask[full:] = _topk_rows(tail, min(n, tail.shape[1])).T
    moved = mask.reshape(np.moveaxis(scores, axis, 0).shape)
    return np.ascontiguousarray(np.moveaxis(moved, 0, axis))


def nm_mask(
    scores: Any, n: int, m: int, *, axis: int = 0, partial: bool = False
) -> np.ndarray:
    """Keeps the `n` largest scores in every group of `m` along `axis`.

    Groups are ``m`` consecutive entries along `axis`, for every index of
    the other axes. For a Keras ``Dense`` kernel ``(in_features,
    out_features)`` the default ``axis=0`` groups the inputs of each output
    unit, the layout N:M hardware needs (see the module docstring). Each
    full group keeps exactly `n` entries; ties go to the lowest index in the
    group, and ``-0.0`` ties ``+0.0``, as in :func:`smpcore.topk_mask`.

    Args:
        scores: Array-like of floating dtype with at least one dimension.
        n: Entries kept per group, an int in ``[1, m]``.
        m: Group size, an int >= 1.
        axis: The axis the groups run along (negative counts from the end).
        partial: Whether ``scores.shape[axis]`` may be a non-multiple of
            `m`. If true, the last group of ``r < m`` entries keeps
            ``min(n, r)``, as if the axis were zero-padded to a multiple of
            `m`; if false (the default), that is an error.

    Returns:
        A bool array with the shape of `scores`.

    Raises:
        TypeError: If `scores` does not have a floating dtype or an argument
            has the wrong type.
        ValueError: If `scores` is 0-d, holds NaN or infinity, or its length
            along `axis` is not a multiple of `m` (without `partial`); or if
            not ``1 <= n <= m`` or `axis` is out of range.

    Example:
        >>> kernel_scores = np.array([[0.1, 4.0], [0.9, 3.0],
        ...                           [0.5, 3.0], [0.2, 3.0]])
        >>> nm_mask(kernel_scores, 2, 4).astype(int)  # ties: lowest index
        array([[0, 1],
               [1, 1],
               [1, 0],
               [0, 0]])
    """
    scores = _checked_scores(scores)
    n, m = check_nm(n, m)
    return _nm_mask(scores, n, m, axis, partial, "scores")


def is_nm_mask(
    mask: Any, n: int, m: int, *, axis: int = 0, partial: bool = False
) -> bool:
    """Whether every group of `m` along `axis` keeps exactly `n` entries.

    This is the structure :func:`nm_mask` produces and the one the
    ``"nm-rank"`` artifact codec stores. A mask with *fewer* than `n` kept
    entries in some group also runs on N:M hardware, but is not exact N:M
    here (it returns False).

    Args:
        mask: A NumPy bool array with at least one dimension.
        n: Entries kept per group, an int in ``[1, m]``.
        m: Group size, an int >= 1.
        axis: The axis the groups run along.
        partial: As in :func:`nm_mask`: if true, a last group of ``r < m``
            entries must keep ``min(n, r)``; if false, a length that is not
            a multiple of `m` gives False.

    Returns:
        A Python bool.

    Raises:
        TypeError: If `mask` is not a bool array or an argument has the
            wrong type.
        ValueError: If `mask` is 0-d, not ``1 <= n <= m`` or `axis` is out
            of range.

    Example:
        >>> is_nm_mask(np.array([True, False, False, True]), 1, 2)
        True
        >>> is_nm_mask(np.array([True, True, False, False]), 1, 2)
        False
    """
    mask = as_bool_array(mask, "mask")
    n, m = check_nm(n, m)
    partial = check_bool(partial, "partial")
    groups, tail = _groups(_moved(mask, axis, "mask")[0], m)
    if tail.shape[1] and not partial:
        return False
    full_ok = np.all(np.count_nonzero(groups, axis=1) == n)
    tail_kept = np.count_nonzero(tail, axis=1)
    return bool(full_ok and np.all(tail_kept == min(n, tail.shape[1])))
