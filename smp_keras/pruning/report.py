"""Per-layer, per-matrix-type density tables and plots of mask artifacts.

This module imports no Keras: a report reads only the mask artifact.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Mapping
from typing import Any

import smpcore
from smp_keras.pruning.run_dir import MASKS, atomic_write

__all__ = [
    "density_table",
    "format_density_table",
    "plot_sparsity",
    "report",
]

_LAYER = re.compile(r"(?:^|/)transformer_layer_(\d+)/([^/]+)$")
_TYPE_ORDER = (
    "query",
    "key",
    "value",
    "attention_output",
    "intermediate",
    "output",
)


def _parse(name: str, order: int) -> tuple[int, str]:
    """`(layer index, matrix type)` of a mask name."""
    match = _LAYER.search(name)
    if match:
        return int(match.group(1)), match.group(2)
    digits = re.findall(r"\d+", name)
    kind = re.sub(r"\d+", "", name.rsplit("/", 1)[-1]) or name
    return (int(digits[-1]) if digits else order), kind


def density_table(sparsity: Mapping[str, Any]) -> dict[str, Any]:
    """Groups a :func:`smpcore.sparsity_report` by layer and matrix type.

    Names like ``.../transformer_layer_3/query`` give layer 3, type
    ``query``; other names use their last number and their last path part
    without digits.

    Args:
        sparsity: The output of :func:`smpcore.sparsity_report`.

    Returns:
        ``{"layers": [...], "types": [...], "density": {type: [per
        layer, None where absent]}, "layer_density": [...],
        "type_density": {type: float}, "total": {...}}``.

    Example:
        >>> import numpy as np
        >>> masks = {"m/transformer_layer_0/query": np.array([1, 0], bool),
        ...          "m/transformer_layer_1/query": np.array([1, 1], bool)}
        >>> table = density_table(smpcore.sparsity_report(masks))
        >>> table["density"], table["type_density"]
        ({'query': [0.5, 1.0]}, {'query': 0.75})
    """
    cells: dict[tuple[int, str], list[int]] = {}
    for order, (name, row) in enumerate(sparsity["matrices"].items()):
        key = _parse(name, order)
        kept, size = cells.get(key, [0, 0])
        cells[key] = [kept + row["kept"], size + row["size"]]
    layers = sorted({layer for layer, _ in cells})
    found = {kind for _, kind in cells}
    types = [t for t in _TYPE_ORDER if t in found]
    types += sorted(found - set(types))

    def ratio(pairs: list[list[int]]) -> float:
        size = sum(p[1] for p in pairs)
        return sum(p[0] for p in pairs) / size if size else 0.0

    density = {
        kind: [
            ratio([cells[(layer, kind)]]) if (layer, kind) in cells else None
            for layer in layers
        ]
        for kind in types
    }
    return {
        "layers": layers,
        "types": types,
        "density": density,
        "layer_density": [
            ratio([v for (la, _), v in cells.items() if la == layer])
            for layer in layers
        ],
        "type_density": {
            kind: ratio([v for (_, k), v in cells.items() if k == kind])
            for kind in types
        },
        "total": dict(sparsity["total"]),
    }


def format_density_table(table: Mapping[str, Any]) -> str:
    """Renders :func:`density_table` as text: layers by matrix types (%).

    Example:
        >>> import numpy as np
        >>> masks = {"transformer_layer_0/query": np.array([1, 0], bool)}
        >>> print(format_density_table(density_table(
        ...     smpcore.sparsity_report(masks))))
        layer  query    all
        -----  -----  -----
        0      50.0%  50.0%
        -----  -----  -----
        all    50.0%  50.0%
    """
    types = list(table["types"])
    header = ["layer", *types, "all"]
    rows = []
    for i, layer in enumerate(table["layers"]):
        cells = [table["density"][t][i] for t in types]
        cells.append(table["layer_density"][i])
        rows.append([str(layer), *(_percent(c) for c in cells)])
    total = [table["type_density"][t] for t in types]
    total.append(table["total"]["density"])
    footer = ["all", *(_percent(c) for c in total)]
    widths = [
        max(len(r[j]) for r in [header, *rows, footer])
        for j in range(len(header))
    ]

    def line(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = [c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)]
        return "  ".join([first, *rest]).rstrip()

    rule = line(["-" * w for w in widths])
    return "\n".join([line(header), rule, *map(line, rows), rule, line(footer)])


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def plot_sparsity(
    table: Mapping[str, Any], path: str, *, title: str | None = None
) -> str:
    """Draws remaining weights by layer, one line per matrix type (PNG).

    Like the paper's figures: x = layer (1-based), y = remaining weights in
    percent; the dashed line is the whole layer. Written atomically with
    matplotlib's Agg backend.

    Args:
        table: The output of :func:`density_table`.
        path: Destination PNG.
        title: Figure title (default: the total density).

    Returns:
        `path`.
    """
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8.0, 4.2), dpi=120)
    axes = figure.subplots()
    x = [layer + 1 for layer in table["layers"]]
    peak = 0.0
    for kind in table["types"]:
        y = [None if v is None else 100 * v for v in table["density"][kind]]
        peak = max([peak, *(v for v in y if v is not None)])
        axes.plot(x, y, marker="o", label=kind)
    axes.plot(
        x,
        [100 * v for v in table["layer_density"]],
        "k--",
        label="whole layer",
    )
    total = 100 * table["total"]["density"]
    axes.set_title(title or f"Remaining weights by layer (total {total:.2f}%)")
    axes.set_xlabel("layer")
    axes.set_ylabel("remaining weights (%)")
    axes.set_xticks(x)
    axes.set_ylim(0, min(100.0, 1.15 * peak) if peak > 0 else 1.0)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    atomic_write(path, lambda handle: handle.write(buffer.getvalue()))
    return path


def _masks_path(source: str | os.PathLike) -> str:
    path = os.fspath(source)
    if os.path.isdir(path):
        path = os.path.join(path, MASKS)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"No mask artifact at {path!r}: pass a .smpmask file or a run "
            "directory holding masks.smpmask."
        )
    return path


def report(
    masks_path: str | os.PathLike, *, plot_path: str | os.PathLike | None = None
) -> dict[str, Any]:
    """Density report of a mask artifact: data, text table, optional plot.

    Args:
        masks_path: A ``.smpmask`` file (or a run directory holding one).
        plot_path: If given, where to write the PNG plot.

    Returns:
        ``{"path", "sparsity" (per matrix and total, as
        :func:`smpcore.sparsity_report`), "table" (:func:`density_table`),
        "text" (per-layer table then per-matrix table), "plot" (path or
        None)}``.

    Raises:
        FileNotFoundError: If there is no artifact at `masks_path`.
        ValueError: If the file is not a valid mask artifact.

    Example:
        >>> import numpy as np, tempfile
        >>> folder = tempfile.mkdtemp()
        >>> path = os.path.join(folder, "m.smpmask")
        >>> smpcore.save_masks_file(
        ...     path, {"transformer_layer_0/key": np.eye(4, dtype=bool)})
        >>> report(path)["sparsity"]["total"]
        {'kept': 4, 'size': 16, 'density': 0.25}
    """
    path = _masks_path(masks_path)
    masks = smpcore.load_masks_file(path)
    sparsity = smpcore.sparsity_report(masks)
    table = density_table(sparsity)
    text = (
        format_density_table(table)
        + "\n\n"
        + smpcore.format_sparsity_report(sparsity)
    )
    plot = None
    if plot_path is not None:
        plot = plot_sparsity(table, os.fspath(plot_path))
    return {
        "path": path,
        "sparsity": sparsity,
        "table": table,
        "text": text,
        "plot": plot,
    }
