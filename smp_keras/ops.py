"""Backend-agnostic tensor operations for masked layers.

Everything here is written in `keras.ops`, so it runs unchanged on the
TensorFlow, JAX and PyTorch backends, inside and outside compiled functions.

The central operation is :func:`topk_mask`: an exact top-k mask in linear
time whose `k` may be a tensor (or a variable), so changing the number of kept
weights never recompiles a JAX or XLA function. It is the "radix threshold"
of the project's performance notes: the float32 scores are viewed as
order-preserving int32 keys, the `k`-th largest key is found with two 16-bit
histogram passes, and ties at the threshold are broken by the lowest flat
(row-major) index, exactly like :func:`smpcore.topk_mask`. On PyTorch,
which runs eagerly, one `torch.kthvalue` finds the same threshold faster.

:func:`nm_mask` gives the N:M structured mask (exactly `n` kept in every
group of `m` along the input axis) with the same keys and the same tie rule
as :func:`smpcore.nm_mask`.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import keras
import numpy as np
from keras import ops

from smpcore import check_nm
from smpcore.validation import check_int

__all__ = ["nm_mask", "order_keys", "straight_through", "topk_mask"]

_NUM_BUCKETS = 65536  # 16-bit digits: two passes cover a 32-bit key.
_HALF_BUCKETS = 32768
_LOW_31_BITS = 0x7FFFFFFF
_LOW_16_BITS = 0xFFFF
_INF_KEY = 0x7F800000  # the key of +inf; larger keys are positive NaNs
_FLOAT_DTYPES = ("float16", "bfloat16", "float32", "float64")


def order_keys(scores: Any) -> Any:
    """Maps float32 scores to int32 keys with the same (signed) order.

    The low 31 bits of negative numbers are flipped, so that a more
    negative float gets a smaller signed integer; then negative keys are
    raised by one, which maps `-0.0` onto the key of `+0.0` (both zeros
    tie) and keeps every other order. NaNs get keys below the key of
    `-inf`: negative NaNs already do, positive NaNs (keys above `+inf`'s)
    are negated. Only integer operations are used: a float comparison with
    0.0 would also catch subnormals on backends that flush them to zero
    (XLA on CPU), and `where` is slow on some backends.

    Comparing keys compares the floats exactly, subnormals included, on
    every backend: `order_keys(a) > order_keys(b)` is `a > b` for numbers
    (with `-0.0 == +0.0`), and false when `a` is NaN.

    Args:
        scores: float32 tensor of any shape.

    Returns:
        An int32 tensor of the same shape.

    Example:
    >>> import numpy as np
    >>> from keras import ops as kops
    >>> keys = order_keys(np.array([-1.0, -0.0, 0.0, 1e-45, np.nan], "float32"))
    >>> kops.convert_to_numpy(keys).tolist()[:4]
    [-1065353216, 0, 0, 1]
    """
    bits = ops.view(scores, "int32")
    sign = ops.right_shift(bits, 31)  # arithmetic: -1 if negative, else 0
    keys = ops.bitwise_xor(bits, ops.bitwise_and(sign, _LOW_31_BITS))
    keys = keys - ops.right_shift(keys, 31)
    positive_nan = ops.cast(keys > _INF_KEY, "int32")
    return keys * (1 - 2 * positive_nan)


def _checked_scores(scores: Any) -> Any:
    """`scores` as a float tensor; `TypeError` for any other dtype."""
    try:
        tensor = ops.convert_to_tensor(scores)
    except (TypeError, ValueError) as error:
        raise TypeError(
            "`scores` must be a float tensor or array. Received: "
            f"{type(scores).__name__} ({error})"
        ) from None
    dtype = keras.backend.standardize_dtype(tensor.dtype)
    if dtype not in _FLOAT_DTYPES:
        raise TypeError(
            f"`scores` must have a float dtype {_FLOAT_DTYPES}. Received: "
            f"scores with dtype={dtype}"
        )
    return tensor


def _static_size(shape: Any) -> int | None:
    """The number of entries of a shape, or None if a dimension is unknown."""
    dims = tuple(shape)
    if any(not isinstance(d, int) for d in dims):
        return None
    return math.prod(dims)


def _checked_k(k: Any, size: int | None) -> Any:
    """Checks `k`: a Python/NumPy int in `[0, size]`, or an int tensor."""
    if isinstance(k, numbers.Integral) and not isinstance(k, bool):
        if k < 0 or (size is not None and k > size):
            raise ValueError(
                f"`k` must be an int in [0, {size}] (the number of scores). "
                f"Received: k={k!r}"
            )
        return int(k)
    dtype = getattr(k, "dtype", None)
    if isinstance(k, numbers.Number) or dtype is None:
        raise TypeError(
            "`k` must be an int or an integer tensor. Received: "
            f"k={k!r} of type {type(k).__name__}"
        )
    dtype = keras.backend.standardize_dtype(dtype)
    if not dtype.startswith(("int", "uint")):
        raise TypeError(
            f"`k` must be an int or an integer tensor. Received: k with "
            f"dtype={dtype}"
        )
    return k


def _kth_largest_bucket(buckets: Any, weights: Any, k: Any) -> tuple[Any, Any]:
    """Finds the bucket of the `k`-th largest element in one radix pass.

    Args:
        buckets: int32 tensor of bucket ids in `[0, 65536)`, one per element.
        weights: int32 tensor, 1 for elements that take part, else 0.
        k: int32 scalar, the rank sought among the taking-part elements
            (`1 <= k` for a meaningful answer; `k = 0` gives the top bucket).

    Returns:
        `(bucket, above)`: the bucket holding the `k`-th largest element and
        the number of taking-part elements in higher buckets.
    """
    hist = ops.segment_sum(weights, buckets, num_segments=_NUM_BUCKETS)
    # at_least[b] = number of elements whose bucket is >= b (non-increasing).
    at_least = ops.sum(hist) - ops.cumsum(hist) + hist
    bucket = ops.sum(ops.cast(at_least >= k, "int32")) - 1
    bucket = ops.maximum(bucket, 0)
    above = ops.take(at_least, bucket) - ops.take(hist, bucket)
    return bucket, above


def topk_mask(scores: Any, k: Any) -> Any:
    """Returns a float 0/1 mask keeping the `k` largest entries of `scores`.

    Exactly `k` entries are 1. Among equal scores at the threshold, the
    entries with the lowest flat (row-major) index are kept, so the result
    equals :func:`smpcore.topk_mask` bit for bit on every backend. `-0.0` and
    `+0.0` are equal.

    Scores are compared in float32: float16 and bfloat16 scores convert
    exactly, float64 scores are rounded first (distinct float64 values may
    then tie, and values beyond float32's range become `±inf`).

    NaN scores rank below every number, `-inf` included: a NaN is kept only
    when `k` exceeds the number of non-NaN scores (lowest index first), so
    the count is exactly `k` whatever the scores hold. This is the mask
    :func:`smpcore.topk_mask` would give with every NaN replaced by a value
    below all others (`smpcore` itself rejects NaN: a graph cannot raise).

    The cost is linear in the number of entries: no sort and no `top_k` with
    a static `k`. `k` may be a Python int, a scalar tensor or a Keras
    variable; inside a compiled function a new value of `k` does not
    recompile anything. On PyTorch (eager) the threshold is found with one
    `torch.kthvalue` instead, which reads `k` on the host; the mask is the
    same. Exact for up to 2**31 - 1 entries per call.

    Args:
        scores: float tensor of any shape (float16, bfloat16, float32 or
            float64; compared in float32).
        k: number of entries to keep: a Python or NumPy int in
            `[0, scores.size]`, or an integer scalar tensor or variable,
            whose value is clipped to `[0, scores.size]` (a graph cannot
            raise).

    Returns:
        A float32 tensor of the shape of `scores` with exactly `k` ones.

    Raises:
        TypeError: If `scores` does not have a float dtype, or `k` is not an
            int or an integer tensor.
        ValueError: If an int `k` is outside `[0, scores.size]` (when the
            size is known).

    Example:
    >>> import numpy as np
    >>> from keras import ops
    >>> m = topk_mask(np.array([[0.5, 2.0], [2.0, -1.0]], "float32"), 2)
    >>> ops.convert_to_numpy(m).tolist()
    [[0.0, 1.0], [1.0, 0.0]]
    """
    scores = _checked_scores(scores)
    k = _checked_k(k, _static_size(scores.shape))
    scores = ops.cast(scores, "float32")
    shape = ops.shape(scores)
    # Bitcast before flattening: Keras's TF `view` needs a static last axis.
    keys = ops.reshape(order_keys(scores), (-1,))
    size = ops.cast(ops.shape(keys)[0], "int32")
    k = ops.minimum(ops.maximum(ops.cast(k, "int32"), 0), size)
    if keras.backend.backend() == "torch":
        threshold, remaining = _torch_threshold(keys, k)
    else:
        threshold, remaining = _radix_threshold(keys, k)
    # Keep every key above the k-th largest, and among the keys equal to it
    # the lowest flat indices until exactly k are kept.
    at = ops.equal(keys, threshold)
    rank = ops.cumsum(ops.cast(at, "int32"))
    ties = ops.logical_and(at, rank <= remaining)
    mask = ops.cast(keys > threshold, "float32") + ops.cast(ties, "float32")
    return ops.reshape(mask, shape)


def _torch_threshold(keys: Any, k: Any) -> tuple[Any, Any]:
    """The `k`-th largest key and how many keys equal to it to keep, on
    PyTorch: one `torch.kthvalue` (eager, so `k` is read on the host), about
    10x faster on CPU than the radix passes, whose 65536-bucket histograms
    Keras's PyTorch `segment_sum` builds slowly. Same result, bit for bit."""
    import torch

    count = int(k)
    if count == 0:  # nothing kept: a threshold above every key, no ties
        return torch.iinfo(torch.int32).max, 0
    threshold = torch.kthvalue(keys, keys.shape[0] - count + 1).values
    above = torch.count_nonzero(keys > threshold)
    return threshold, k - above.to(torch.int32)


def _radix_threshold(keys: Any, k: Any) -> tuple[Any, Any]:
    """The `k`-th largest key and how many keys equal to it to keep, in two
    16-bit radix passes of `keras.ops` (traceable; `k` may be symbolic)."""
    ones = ops.ones_like(keys)

    # Pass 1: the high 16 bits (arithmetic shift, then offset to [0, 65536)).
    high = ops.right_shift(keys, 16) + _HALF_BUCKETS
    high_bucket, high_above = _kth_largest_bucket(high, ones, k)

    # Pass 2: the low 16 bits, among the elements of the chosen high bucket.
    in_high = ops.cast(ops.equal(high, high_bucket), "int32")
    low = ops.bitwise_and(keys, _LOW_16_BITS)
    k_low = k - high_above
    low_bucket, low_above = _kth_largest_bucket(low, in_high, k_low)

    threshold = (high_bucket - _HALF_BUCKETS) * _NUM_BUCKETS + low_bucket
    return threshold, k_low - low_above


def nm_mask(scores: Any, n: int, m: int, *, axis: int = 0) -> Any:
    """Returns a float 0/1 mask keeping the `n` largest of every `m` scores.

    Groups are `m` consecutive entries along `axis`, for every index of the
    other axes; for a Keras kernel `(in_features, out_features)` the default
    `axis=0` groups the inputs of each output unit, the layout of N:M
    sparse hardware (see :mod:`smpcore.structured`). Every group keeps
    exactly `n` entries, ties to the lowest index in the group, so the
    result equals :func:`smpcore.nm_mask` bit for bit on every backend.

    Entry `i` of a group is kept when fewer than `n` entries `j` of its
    group beat it, `s_j > s_i` or (`s_j = s_i` and `j < i`): an
    `O(m^2)` comparison per group, vectorised, with no sort, so it
    compiles once under `jit` and suits small `m` (2:4, 4:8, 8:16).
    Scores are compared as the int32 keys of :func:`order_keys`: exact in
    float32, subnormals included; `-0.0` ties `+0.0`; NaN ranks below every
    number (`smpcore` rejects NaN) and is kept only where a group has fewer
    than `n` other entries.

    Args:
        scores: float tensor with at least one dimension (float16,
            bfloat16, float32 or float64; compared in float32, as in
            :func:`topk_mask`). Its length along `axis` must be known and a
            multiple of `m`.
        n: Entries kept per group, an int in `[1, m]`.
        m: Group size, an int `>= 1`.
        axis: The axis the groups run along (negative counts from the end).

    Returns:
        A float32 tensor of the shape of `scores`.

    Raises:
        TypeError: If `scores` does not have a float dtype or an argument
            has the wrong type.
        ValueError: If not `1 <= n <= m`, `axis` is out of range, or the
            length of `scores` along `axis` is unknown or not a multiple of
            `m` (the message names the shape).

    Example:
    >>> import numpy as np
    >>> from keras import ops
    >>> s = np.array([[0.1, 4.0], [0.9, 3.0], [0.5, 3.0], [0.2, 3.0]], "f4")
    >>> ops.convert_to_numpy(nm_mask(s, 2, 4)).astype(int).tolist()
    [[0, 1], [1, 1], [1, 0], [0, 0]]
    """
    scores = _checked_scores(scores)
    n, m = check_nm(n, m)
    shape = tuple(scores.shape)
    if not shape:
        raise ValueError(
            "`scores` must have at least one dimension. Received: scores "
            "with shape=()"
        )
    axis = check_int(axis, "axis", minimum=-len(shape), maximum=len(shape) - 1)
    length = shape[axis]
    if not isinstance(length, int) or length % m:
        raise ValueError(
            f"`scores` must have a multiple of m={m} entries along axis "
            f"{axis % len(shape)} for N:M groups. Received: scores with "
            f"shape={shape}"
        )
    # Bitcast before moving axes: Keras's TF `view` needs a static last axis.
    keys = ops.moveaxis(order_keys(ops.cast(scores, "float32")), axis, 0)
    moved = ops.shape(keys)
    groups = ops.reshape(keys, (length // m, m, -1))
    # beats[g, i, j, r]: entry j beats entry i, i.e. key_j > key_i, or
    # key_j >= key_i for j < i: key_j + [j < i] > key_i. Keys are at most
    # the key of +inf, so the + 1 never overflows.
    earlier = ops.convert_to_tensor(np.tril(np.ones((m, m), "int32"), -1))
    earlier = ops.reshape(earlier, (1, m, m, 1))
    beats = ops.expand_dims(groups, 1) + earlier > ops.expand_dims(groups, 2)
    rank = ops.sum(ops.cast(beats, "int32"), axis=2)
    mask = ops.reshape(ops.cast(rank < n, "float32"), moved)
    return ops.moveaxis(mask, 0, axis)


def straight_through(mask: Any, scores: Any) -> Any:
    """Attaches a straight-through gradient from `mask` to `scores`.

    The value is exactly `mask`; the gradient with respect to `scores` is the
    identity (Bengio et al., 2013). Written as
    `mask + (scores - stop_gradient(scores))` rather than
    `scores + stop_gradient(mask - scores)`, which is one ulp off and can turn
    a kept 1 into a 0 when `|scores|` is large.

    Args:
        mask: float tensor, the hard mask (no gradient needed).
        scores: float tensor of the same shape, the values to differentiate.

    Returns:
        A tensor equal to `mask` whose gradient flows to `scores`.

    Example:
    >>> import numpy as np
    >>> from keras import ops
    >>> s = np.array([3.0, -1.0], "float32")
    >>> m = straight_through(np.array([1.0, 0.0], "float32"), s)
    >>> ops.convert_to_numpy(m).tolist()
    [1.0, 0.0]
    """
    scores = ops.convert_to_tensor(scores)
    mask = ops.cast(mask, scores.dtype)
    return mask + (scores - ops.stop_gradient(scores))
