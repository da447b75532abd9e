"""Runs one short pruning job on 1 and on 2 replicas; writes a JSON report.

Run as a subprocess (``python replica_script.py MODEL TRAIN VAL OUT``) so
that the two simulated devices are set up before the backend is imported:
`XLA_FLAGS` (set by the caller) on JAX, two logical CPU devices on
TensorFlow (below). Not a test module.

With ``--process`` (JAX), the script is one process of a multi-process
job (``KERAS_DISTRIBUTION_*`` set by the caller, one CPU device each): it
runs only the data-parallel job, in the shared folder of OUT, and writes
its own report ``OUT.<process index>``. ``--steps=N`` and
``--checkpoint-every=K`` change the job's length and checkpoints,
``--resume`` keeps (and resumes) an unfinished run directory instead of
overwriting it, ``--single`` runs only the one-device job.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np

BACKEND = os.environ["KERAS_BACKEND"]
#: Compiled steps on JAX (eager JAX dispatches slowly); eager on TF.
JIT = "auto" if BACKEND == "jax" else None
PROCESS = "--process" in sys.argv
OPTIONS = dict(a[2:].split("=", 1) for a in sys.argv if "=" in a)
if BACKEND == "tensorflow" and not PROCESS:
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2
    )

import keras  # noqa: E402

from smp_keras.model_utils import named_masked_layers  # noqa: E402
from smp_keras.pruning.config import PruneConfig  # noqa: E402
from smp_keras.pruning.train import prune  # noqa: E402


def copies(variable) -> int:
    """How many device copies back one Keras variable (test helper)."""
    value = variable._value  # the backend's variable, not a cast copy
    if BACKEND == "jax":
        sharding = value.sharding
        if not sharding.is_fully_replicated:
            return -1  # split, not replicated
        return len(sharding.device_set)
    return len(getattr(value, "values", (value,)))


def run(model: str, files: dict, folder: str, distribute) -> dict:
    config = PruneConfig(
        model=model,
        task="sst2",
        data_files=files,
        columns={"text": "review", "label": "stars"},
        steps=int(OPTIONS.get("steps", 4)),
        batch_size=8,
        max_length=16,
        density=0.5,
        cooldown_steps=1,
        eval_every=0,
        checkpoint_every=int(OPTIONS.get("checkpoint-every", 100)),
        output_dir=os.path.join(folder, f"run_{distribute}"),
        distribute=distribute,
        overwrite="--resume" not in sys.argv,
    )
    result = prune(config, quiet=True, jit_compile=JIT)
    layers = named_masked_layers(result.model)
    stats = {
        n: float(keras.ops.convert_to_numpy(lay.score_statistic()))
        for n, lay in layers.items()
    }
    masks = {n: lay.mask() for n, lay in layers.items()}
    name = f"masks_{distribute}"
    if PROCESS:
        import jax

        name += f".{jax.process_index()}"
    np.savez(os.path.join(folder, f"{name}.npz"), **masks)
    return {
        "metrics": result.metrics,
        "run_dir": result.run_dir,
        "resumed_from": result.resumed_from,
        "kept": {n: lay.kept for n, lay in layers.items()},
        "statistics": stats,
        "scores_max_abs": max(
            float(np.abs(keras.ops.convert_to_numpy(lay.scores)).max())
            for lay in layers.values()
        ),
        "mask_shapes": {n: list(m.shape) for n, m in masks.items()},
        "kernel_shapes": {
            n: list(lay.kernel.shape) for n, lay in layers.items()
        },
        "copies": sorted({copies(v) for v in result.model.trainable_variables}),
        "devices": _devices(),
        "loss": [r["loss"] for r in _log(config.output_dir) if "loss" in r],
    }


def _devices() -> int:
    if BACKEND == "jax":
        return len(keras.distribution.list_devices())
    return len(tf.config.list_logical_devices("CPU"))


def _log(folder: str) -> list:
    with open(os.path.join(folder, "train_log.jsonl")) as handle:
        return [json.loads(line) for line in handle if line.strip()]


def main() -> None:
    model, train, validation, out = sys.argv[1:5]
    files = {"train": train, "validation": validation}
    folder = os.path.dirname(out)
    if PROCESS:
        import jax

        report = run(model, files, folder, "data-parallel")
        report["process"] = [jax.process_index(), jax.process_count()]
        out = f"{out}.{jax.process_index()}"
        with open(out + ".tmp", "w") as handle:
            json.dump(report, handle)
        os.replace(out + ".tmp", out)
        return
    report = {"one": run(model, files, folder, None)}
    if "--single" not in sys.argv:
        report["two"] = run(model, files, folder, "data-parallel")
    with open(out + ".tmp", "w") as handle:
        json.dump(report, handle)
    os.replace(out + ".tmp", out)


if __name__ == "__main__":
    main()
