"""Bit-level codecs for boolean masks (private; used by `artifacts`).

Two codecs, chosen per mask by size:

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

Every decoder checks that the payload is consistent with the header fields
and raises `ValueError` otherwise.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "decode",
    "encode",
]

PACKBITS = "packbits"
ELIAS_FANO = "elias-fano"
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


def encode(flat: np.ndarray) -> tuple[str, dict[str, Any], bytes]:
    """Encodes a flat bool mask with the smaller codec.

    Returns:
        ``(codec, params, payload)``; `params` go into the artifact header.
    """
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
    codec: str, params: dict[str, Any], payload: bytes, n: int
) -> np.ndarray:
    """Decodes a payload into a flat bool mask of `n` entries.

    Raises:
        ValueError: If the codec is unknown or the payload is inconsistent
            with `params` and `n`.
    """
    if codec == PACKBITS:
        if len(payload) != (n + 7) // 8:
            raise ValueError(
                f"packbits payload has {len(payload)} bytes, expected "
                f"{(n + 7) // 8}"
            )
        raw = np.frombuffer(payload, dtype=np.uint8)
        return np.unpackbits(raw, count=n).view(bool)
    if codec != ELIAS_FANO:
        raise ValueError(f"unknown mask codec {codec!r}")
    of_ones, m, low_bits = _checked_ef_params(params, n)
    positions = _ef_decode(payload, n, m, low_bits)
    flat = np.zeros(n, dtype=bool) if of_ones else np.ones(n, dtype=bool)
    flat[positions] = of_ones
    return flat
