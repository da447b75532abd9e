"""Bit-level codecs for boolean masks (private; used by `artifacts`).

Three codecs, chosen per mask by size:

* ``"packbits"``: one bit per entry, ``np.packbits`` (big-endian bit order),
  ``ceil(n / 8)`` bytes. Best near density 0.5.
* ``"elias-fano"``: the sorted positions of the ones (or of the zeros, when
  more than half the entries are ones) in Elias-Fano form. With ``m``
  positions in ``[0, n)`` and ``l`` low bits, each position ``p`` is split
  into ``p & (2^l - 1)``, stored in a fixed-width field, and ``p >> l``,
  stored in unary: bit ``(p_i >> l) + i`` of the high bit-vector is set.
  That costs ``m·l + m + (n >> l) + 1`` bits, about ``m (2 + log2(n / m))``,
  close to the entropy floor ``n·H(m / n)`` for sparse masks. Decoding is
  vectorised: the high parts are the positions of the set bits minus their
  rank (``np.flatnonzero`` on the unpacked vector).
* ``"nm-rank"`` (fields ``n``, ``m``): for exact N:M masks, where every
  group of ``m`` consecutive entries along axis 0 keeps ``n`` (see
  :mod:`smpcore.structured`; ``2 <= m <= 32``, ``1 <= n < m``, axis 0 a
  multiple of ``m``). Groups are taken in row-major order of ``(group, rest
  of the shape)``; each is replaced by the rank of its kept positions
  ``p_1 < ... < p_n`` in the combinatorial number system,
  ``sum_j C(p_j, j)``, a digit in ``[0, C)`` with ``C = C(m, n)``. The
  digits are packed ``b`` at a time into one integer in base ``C`` (least
  significant first, ``b`` the most with ``C^b <= 2^64``), stored in
  ``bit_length(C^b - 1)`` bits, MSB first; the last block holds the
  remaining digits in ``bit_length(C^r - 1)`` bits. That costs at most
  ``log2 C + 1 / b`` bits per group, within 2% of the entropy floor
  ``log2 C`` for 2:4 (2.625 vs 2.585) and 4:8 (6.2 vs 6.13).

Every decoder checks that the payload is consistent with the header fields
and raises `ValueError` otherwise.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from smpcore.structured import _groups

__all__ = [
    "decode",
    "encode",
]

PACKBITS = "packbits"
ELIAS_FANO = "elias-fano"
NM_RANK = "nm-rank"
#: The largest group size the N:M codec detects and decodes.
NM_MAX_M = 32
_MAX_LOW_BITS = 62


def _ef_layout(n: int, m: int, low_bits: int) -> tuple[int, int]:
    """Byte lengths ``(low, high)`` of an Elias-Fano payload."""
    if m == 0:
        return 0, 0
    high_bits = m + ((n - 1) >> low_bits) + 1
    return (m * low_bits + 7) // 8, (high_bits + 7) // 8


def _ef_low_bits(n: int, m: int) -> int:
    """The number of low bits that minimises the Elias-Fano size."""
    if m == 0:
        return 0
    guess = (n // m).bit_length() - 1  # floor(log2(n / m))
    candidates = [b for b in (guess - 1, guess, guess + 1) if b >= 0]
    return min(candidates, key=lambda b: (sum(_ef_layout(n, m, b)), b))


def _ef_encode(positions: np.ndarray, n: int, low_bits: int) -> bytes:
    """Elias-Fano payload (low field bytes, then high vector bytes)."""
    m = positions.size
    if m == 0:
        return b""
    shifts = np.arange(low_bits - 1, -1, -1, dtype=np.int64)
    low = (positions[:, None] >> shifts) & 1
    high = np.zeros(m + ((n - 1) >> low_bits) + 1, dtype=np.uint8)
    high[(positions >> low_bits) + np.arange(m)] = 1
    return (
        np.packbits(low.astype(np.uint8)).tobytes()
        + np.packbits(high).tobytes()
    )


def _ef_decode(payload: bytes, n: int, m: int, low_bits: int) -> np.ndarray:
    """Positions from an Elias-Fano payload; checks its consistency."""
    low_len, high_len = _ef_layout(n, m, low_bits)
    if len(payload) != low_len + high_len:
        raise ValueError(
            f"Elias-Fano payload has {len(payload)} bytes, expected "
            f"{low_len + high_len}"
        )
    if m == 0:
        return np.zeros(0, dtype=np.int64)
    raw = np.frombuffer(payload, dtype=np.uint8)
    flat_bits = np.unpackbits(raw[:low_len], count=m * low_bits)
    bits = flat_bits.reshape(m, low_bits)
    low = np.zeros(m, dtype=np.int64)
    for column in range(low_bits):
        low = (low << 1) | bits[:, column]
    ones = np.flatnonzero(np.unpackbits(raw[low_len:]))
    if ones.size != m:
        raise ValueError(
            f"Elias-Fano high bits hold {ones.size} ones, expected {m}"
        )
    positions = ((ones - np.arange(m)) << low_bits) | low
    if positions[-1] >= n or np.any(np.diff(positions) <= 0):
        raise ValueError("Elias-Fano positions are not increasing and < size")
    return positions


def _encode_positions(flat: np.ndarray) -> tuple[str, dict[str, Any], bytes]:
    """Encodes a flat bool mask with the smaller of packbits and Elias-Fano."""
    n = flat.size
    kept = int(np.count_nonzero(flat))
    of_ones = kept <= n - kept
    m = kept if of_ones else n - kept
    low_bits = _ef_low_bits(n, m)
    if sum(_ef_layout(n, m, low_bits)) >= (n + 7) // 8:
        return PACKBITS, {}, np.packbits(flat).tobytes()
    positions = np.flatnonzero(flat if of_ones else ~flat)
    params = {"of": "ones" if of_ones else "zeros", "count": m}
    params["low_bits"] = low_bits
    return ELIAS_FANO, params, _ef_encode(positions, n, low_bits)


def encode(
    flat: np.ndarray, shape: tuple[int, ...]
) -> tuple[str, dict[str, Any], bytes]:
    """Encodes a flat bool mask of `shape` with the smallest codec.

    On equal sizes packbits or Elias-Fano is kept, so masks that are not
    N:M, or gain nothing from it, are written as before ``"nm-rank"``.

    Returns:
        ``(codec, params, payload)``; `params` go into the artifact header.
    """
    codec, params, payload = _encode_positions(flat)
    structure = _nm_structure_of(flat, shape)
    if structure is not None:
        n, m = structure
        if _nm_length(flat.size // m, n, m) < len(payload):
            return NM_RANK, {"n": n, "m": m}, _nm_encode(flat, shape, n, m)
    return codec, params, payload


def _checked_field(params: dict[str, Any], key: str, high: int) -> int:
    """Returns ``params[key]`` if it is an int in ``[0, high]``."""
    value = params.get(key)
    if type(value) is not int or not 0 <= value <= high:
        raise ValueError(f"Elias-Fano field {key!r} is invalid: {value!r}")
    return value


def _checked_ef_params(params: dict[str, Any], n: int) -> tuple[bool, int, int]:
    """Validates the Elias-Fano header fields: (of_ones, count, low_bits)."""
    of = params.get("of")
    if of not in ("ones", "zeros"):
        raise ValueError(f"Elias-Fano field 'of' is invalid: {of!r}")
    m = _checked_field(params, "count", n)
    return of == "ones", m, _checked_field(params, "low_bits", _MAX_LOW_BITS)


def decode(
    codec: str, params: dict[str, Any], payload: bytes, shape: tuple[int, ...]
) -> np.ndarray:
    """Decodes a payload into a flat bool mask of ``prod(shape)`` entries.

    Raises:
        ValueError: If the codec is unknown or the payload is inconsistent
            with `params` and `shape`.
    """
    n = math.prod(shape)
    if codec == PACKBITS:
        if len(payload) != (n + 7) // 8:
            raise ValueError(
                f"packbits payload has {len(payload)} bytes, expected "
                f"{(n + 7) // 8}"
            )
        raw = np.frombuffer(payload, dtype=np.uint8)
        return np.unpackbits(raw, count=n).view(bool)
    if codec == NM_RANK:
        return _nm_decode(params, payload, shape)
    if codec != ELIAS_FANO:
        raise ValueError(f"unknown mask codec {codec!r}")
    of_ones, m, low_bits = _checked_ef_params(params, n)
    positions = _ef_decode(payload, n, m, low_bits)
    flat = np.zeros(n, dtype=bool) if of_ones else np.ones(n, dtype=bool)
    flat[positions] = of_ones
    return flat


# === N:M ranks ===


def _nm_structure_of(
    flat: np.ndarray, shape: tuple[int, ...]
) -> tuple[int, int] | None:
    """The N:M structure along axis 0 with the smallest m, if any.

    Only the group sizes with the mask's density ``n / m`` are tried; one
    cumulative count along axis 0 serves all of them.
    """
    size = flat.size
    if not shape or size == 0:
        return None
    kept, length = int(np.count_nonzero(flat)), shape[0]
    candidates = [
        m
        for m in range(2, min(NM_MAX_M, length) + 1)
        if length % m == 0 and kept * m % size == 0 and 0 < kept * m < m * size
    ]
    if not candidates:
        return None
    columns = flat.reshape(length, size // length)
    counts = np.cumsum(columns, axis=0, dtype=np.min_scalar_type(length))
    for m in candidates:
        n = kept * m // size
        expected = np.arange(n, n * (length // m) + 1, n)[:, None]
        if np.all(counts[m - 1 :: m] == expected):
            return n, m
    return None


def _nm_block(n: int, m: int) -> tuple[int, int]:
    """``(C, b)``: combinations per group and groups per 64-bit block."""
    combinations = math.comb(m, n)
    block = 1
    while combinations ** (block + 1) <= 2**64:
        block += 1
    return combinations, block


def _nm_bits(groups: int, n: int, m: int) -> tuple[int, int, int, int]:
    """``(full blocks, their bits, groups in the last block, its bits)``."""
    combinations, block = _nm_block(n, m)
    full, rest = divmod(groups, block)
    tail_bits = (combinations**rest - 1).bit_length()
    return full, (combinations**block - 1).bit_length(), rest, tail_bits


def _nm_length(groups: int, n: int, m: int) -> int:
    """Bytes of an ``"nm-rank"`` payload."""
    full, bits, _, tail_bits = _nm_bits(groups, n, m)
    return (full * bits + tail_bits + 7) // 8


def _comb_table(n: int, m: int) -> np.ndarray:
    """``table[i, j] = C(i, j)`` for ``i < m`` and ``j <= n``, int64."""
    rows = [[math.comb(i, j) for j in range(n + 1)] for i in range(m)]
    return np.array(rows, dtype=np.int64)


def _uint64_bits(values: np.ndarray, width: int) -> np.ndarray:
    """The low `width` bits of each uint64, MSB first: ``(len, width)``."""
    raw = values.astype(">u8").view(np.uint8).reshape(-1, 8)
    return np.unpackbits(raw, axis=1)[:, 64 - width :]


def _bits_uint64(bits: np.ndarray) -> np.ndarray:
    """Inverse of :func:`_uint64_bits`."""
    padded = np.zeros((bits.shape[0], 64), dtype=np.uint8)
    padded[:, 64 - bits.shape[1] :] = bits
    return np.packbits(padded, axis=1).view(">u8").ravel().astype(np.uint64)


def _nm_encode(
    flat: np.ndarray, shape: tuple[int, ...], n: int, m: int
) -> bytes:
    """The ``"nm-rank"`` payload of an exact N:M mask."""
    groups = _groups(flat.reshape(shape[0], math.prod(shape[1:])), m)[0]
    table, seen = _comb_table(n, m), np.zeros(len(groups), dtype=np.int64)
    ranks = np.zeros(len(groups), dtype=np.int64)
    for i in range(m):
        seen += groups[:, i]
        ranks += np.where(groups[:, i], table[i, seen], 0)
    full, bits, rest, tail_bits = _nm_bits(len(groups), n, m)
    combinations, block = _nm_block(n, m)
    digits = np.zeros((full + (rest > 0)) * block, dtype=np.uint64)
    digits[: len(groups)] = ranks
    blocks = digits.reshape(-1, block)
    values = np.zeros(len(blocks), dtype=np.uint64)
    for i in range(block - 1, -1, -1):
        values = values * np.uint64(combinations) + blocks[:, i]
    stream = [_uint64_bits(values[:full], bits).ravel()]
    stream.append(_uint64_bits(values[full:], tail_bits).ravel())
    return np.packbits(np.concatenate(stream)).tobytes()


def _checked_nm_params(
    params: dict[str, Any], shape: tuple[int, ...]
) -> tuple[int, int]:
    """Validates the ``"nm-rank"`` header fields against `shape`."""
    n, m = params.get("n"), params.get("m")
    if type(n) is int and type(m) is int and 1 <= n < m <= NM_MAX_M:
        if shape and shape[0] % m == 0:
            return n, m
    raise ValueError(
        f"N:M fields are invalid: n={n!r}, m={m!r} for shape={shape}"
    )


def _nm_values(
    payload: bytes, groups: int, n: int, m: int
) -> tuple[np.ndarray, np.ndarray]:
    """The block integers of an ``"nm-rank"`` payload: (full, last)."""
    full, bits, rest, tail_bits = _nm_bits(groups, n, m)
    total = full * bits + tail_bits
    if len(payload) != (total + 7) // 8:
        raise ValueError(
            f"N:M payload has {len(payload)} bytes, expected {(total + 7) // 8}"
        )
    stream = np.unpackbits(np.frombuffer(payload, dtype=np.uint8))
    if stream[total:].any():
        raise ValueError("N:M payload has non-zero padding bits")
    values = _bits_uint64(stream[: full * bits].reshape(full, bits))
    last = _bits_uint64(
        stream[full * bits : total].reshape(int(rest > 0), tail_bits)
    )
    combinations, block = _nm_block(n, m)
    beyond = np.any(values >= combinations**block)
    if beyond or np.any(last >= combinations**rest):
        raise ValueError("N:M payload holds a block beyond its range")
    return values, last


def _nm_decode(
    params: dict[str, Any], payload: bytes, shape: tuple[int, ...]
) -> np.ndarray:
    """Decodes an ``"nm-rank"`` payload into a flat bool mask."""
    n, m = _checked_nm_params(params, shape)
    size = math.prod(shape)
    groups = size // m
    values, last = _nm_values(payload, groups, n, m)
    combinations, block = _nm_block(n, m)
    digits = np.zeros((len(values) + len(last), block), dtype=np.uint64)
    remaining = np.concatenate([values, last])
    for i in range(block):
        digits[:, i] = remaining % np.uint64(combinations)
        remaining //= np.uint64(combinations)
    ranks = digits.ravel()[:groups].astype(np.int64)
    table, left = _comb_table(n, m), np.full(groups, n, dtype=np.int64)
    kept = np.zeros((groups, m), dtype=bool)
    for i in range(m - 1, -1, -1):
        value = table[i, left]
        kept[:, i] = (left > 0) & (value <= ranks)
        ranks -= np.where(kept[:, i], value, 0)
        left -= kept[:, i]
    blocks = kept.reshape(shape[0] // m, math.prod(shape[1:]), m)
    return blocks.transpose(0, 2, 1).reshape(-1)
