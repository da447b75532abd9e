"""End to end: SMP finds a planted sparse sub-network of a frozen kernel.

Targets come from a frozen random kernel restricted to a known mask at 30%
density. A `MaskedDense` holding the full kernel learns only its scores
(with `model.fit` and a cubic density schedule); it must
fit the targets far better than a random mask of the same density, and
recover the planted mask.
"""

from __future__ import annotations

import keras
import numpy as np

import smpcore
from smp_keras import MaskedDense, SparsityScheduler


def test_smp_recovers_planted_subnetwork():
    rng = np.random.default_rng(1)
    n_in, n_out, n = 32, 16, 512
    kernel = rng.normal(size=(n_in, n_out)).astype("float32")
    planted = smpcore.topk_mask(rng.random((n_in, n_out)), 0.3)
    x = rng.normal(size=(n, n_in)).astype("float32")
    y = x @ (kernel * planted)

    layer = MaskedDense.from_weights(kernel, None, name="masked")
    model = keras.Sequential([keras.Input((n_in,)), layer])
    model.compile(keras.optimizers.Adam(0.05), "mse")
    scheduler = SparsityScheduler(
        smpcore.cubic_density_schedule(
            final_density=0.3, total_steps=80, cooldown_steps=50
        )
    )
    history = model.fit(
        x, y, batch_size=64, epochs=10, verbose=0, callbacks=[scheduler]
    )
    assert history.history["density"][-1] == 0.3
    learned = layer.mask()
    assert learned.sum() == planted.sum()
    smp_mse = float(np.mean((model.predict(x, verbose=0) - y) ** 2))

    random_mask = smpcore.topk_mask(rng.random((n_in, n_out)), 0.3)
    random_mse = float(np.mean((x @ (kernel * random_mask) - y) ** 2))
    assert smp_mse < 0.05 * random_mse
    assert (learned & planted).sum() >= 0.95 * planted.sum()
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(layer.kernel), kernel
    )
