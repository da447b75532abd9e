"""Data-parallel pruning: one distribution scope per backend.

A pruning job with ``distribute="data-parallel"`` builds, compiles and
trains its model inside :func:`distribution_scope`:

- **JAX**: :class:`keras.distribution.DataParallel` over every device
  (`keras.distribution.list_devices()`); variables are replicated (one
  copy, the same value on every device) and each global batch is split
  along its first axis. When ``KERAS_DISTRIBUTION_JOB_ADDRESSES`` is set,
  :func:`keras.distribution.initialize` first joins the multi-process job
  (CPU collectives over gloo); each process then feeds its own rows of
  every global batch (:func:`local_rows`), predictions run on each
  process's copy of the replicated variables (:func:`predict`), and only
  the chief (process 0) writes the run directory (:func:`is_chief`).
- **TensorFlow**: :class:`tf.distribute.MirroredStrategy` over the
  GPUs (else the logical CPUs) of one machine. Variables are mirrored and
  gradients all-reduced. A multi-worker job (``TF_CONFIG`` set) is
  refused: Keras 3's `fit` fails under `MultiWorkerMirroredStrategy`.
- **torch**: not supported (`keras.distribution` is JAX-only and `fit`
  has no distribution path on torch; Keras's own example trains a
  `DistributedDataParallel` model with a hand-written loop); the scope
  raises `NotImplementedError` rather than silently running on one device.

The batch size of the job is the *global* batch: every step sees the same
examples as a one-device run, so masks, scores, densities and the SMP-S
statistics are one per matrix, computed from the same (replicated) values.

Unlike the rest of the library, this module asks which backend is active:
the distribution APIs are backend-specific.
"""

from __future__ import annotations

import contextlib
import os
import weakref
from collections.abc import Iterator
from typing import Any

import keras
import numpy as np

from smp_keras.pruning.config import DISTRIBUTE_KINDS

__all__ = [
    "DISTRIBUTE_KINDS",
    "barrier",
    "check_distribute",
    "check_global_batch",
    "distribution_scope",
    "is_chief",
    "local_rows",
    "predict",
    "process_count",
    "process_index",
    "replica_count",
]

#: Environment variable that marks a multi-host JAX job (Keras reads it).
JAX_JOB_ADDRESSES = "KERAS_DISTRIBUTION_JOB_ADDRESSES"


def check_distribute(distribute: Any) -> str | None:
    """Validates a `distribute` value; returns it.

    Args:
        distribute: None (one device) or ``"data-parallel"``.

    Returns:
        `distribute`, unchanged.

    Raises:
        TypeError: If `distribute` is neither None nor a string.
        ValueError: If it is an unknown string.

    Example:
        >>> check_distribute("data-parallel")
        'data-parallel'
        >>> check_distribute("model-parallel")
        Traceback (most recent call last):
        ...
        ValueError: `distribute` must be None or one of ('data-parallel',). \
Received: distribute='model-parallel'
    """
    if distribute is None:
        return None
    if not isinstance(distribute, str):
        raise TypeError(
            f"`distribute` must be None or one of {DISTRIBUTE_KINDS}. "
            f"Received: distribute={distribute!r} of type "
            f"{type(distribute).__name__}"
        )
    if distribute not in DISTRIBUTE_KINDS:
        raise ValueError(
            f"`distribute` must be None or one of {DISTRIBUTE_KINDS}. "
            f"Received: distribute={distribute!r}"
        )
    return distribute


def _unsupported(backend: str) -> NotImplementedError:
    return NotImplementedError(
        f"`distribute='data-parallel'` is not supported on the {backend!r} "
        "Keras backend (keras.distribution is JAX-only and Keras's fit has "
        "no distribution path on torch). Use KERAS_BACKEND=jax (keras."
        "distribution.DataParallel) or KERAS_BACKEND=tensorflow (tf."
        "distribute.MirroredStrategy), or distribute=None for one device."
    )


def _jax_distribution() -> Any:
    import jax

    joined = jax.distributed.is_initialized()
    if os.environ.get(JAX_JOB_ADDRESSES) and not joined:
        if os.environ.get("JAX_PLATFORMS", "cpu").startswith("cpu"):
            # Cross-process collectives on CPU (JAX's default has none).
            jax.config.update("jax_cpu_collectives_implementation", "gloo")
        keras.distribution.initialize()  # reads the KERAS_DISTRIBUTION_* vars
    devices = keras.distribution.list_devices()
    # Keras shards only tf.data datasets across processes: the job feeds
    # each process its own rows instead (`local_rows`).
    return keras.distribution.DataParallel(
        devices=devices, auto_shard_dataset=jax.process_count() == 1
    )


def process_count() -> int:
    """The number of processes of the job (1 unless a multi-process JAX
    job was joined).

    Example:
        >>> process_count()
        1
    """
    if keras.backend.backend() != "jax":
        return 1
    import jax

    return int(jax.process_count())


def process_index() -> int:
    """This process's index in the job, 0 for the chief.

    Example:
        >>> process_index()
        0
    """
    if keras.backend.backend() != "jax":
        return 0
    import jax

    return int(jax.process_index())


def is_chief() -> bool:
    """Whether this process writes the run directory (process 0)."""
    return process_index() == 0


def barrier(name: str) -> None:
    """Waits until every process of the job reaches `name` (no-op with
    one process)."""
    if process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)


def local_rows(batch_size: int) -> slice:
    """The rows of each global batch of `batch_size` this process feeds.

    Contiguous equal shares, process 0 first: together the processes feed
    every row of the global batch once, so a step sees the examples of a
    one-process step.

    Raises:
        ValueError: If `batch_size` does not split over the processes.

    Example:
        >>> local_rows(32)
        slice(0, 32, None)
    """
    count = process_count()
    if batch_size % count:
        raise ValueError(
            "`batch_size` (the global batch) must be a multiple of the "
            f"number of processes ({count}). Received: "
            f"batch_size={batch_size!r}"
        )
    share = batch_size // count
    start = process_index() * share
    return slice(start, start + share)


def _tf_strategy() -> Any:
    import tensorflow as tf

    if os.environ.get("TF_CONFIG"):
        raise NotImplementedError(
            "TF_CONFIG is set, but a multi-worker job is not supported on "
            "the 'tensorflow' Keras backend: Keras 3's fit fails under "
            "tf.distribute.MultiWorkerMirroredStrategy (keras-team/keras"
            "#20585; on two workers here: 'Attempt to convert a value "
            "(PerReplica...) to a Tensor'). Use KERAS_BACKEND=jax with "
            "KERAS_DISTRIBUTION_JOB_ADDRESSES for several processes, or "
            "unset TF_CONFIG for the devices of one machine."
        )
    devices = tf.config.list_logical_devices("GPU")
    devices = devices or tf.config.list_logical_devices("CPU")
    return tf.distribute.MirroredStrategy(devices=[d.name for d in devices])


@contextlib.contextmanager
def distribution_scope(distribute: str | None) -> Iterator[Any]:
    """Context in which a job builds, compiles and trains its model.

    Args:
        distribute: None (no distribution: yields None) or
            ``"data-parallel"``.

    Yields:
        None, the :class:`keras.distribution.DataParallel` (JAX) or the
        `tf.distribute` strategy (TensorFlow) in effect.

    Raises:
        TypeError, ValueError: For an invalid `distribute`.
        NotImplementedError: For ``"data-parallel"`` on a backend without
            data-parallel support (torch).

    Example:
        >>> with distribution_scope(None) as scope:
        ...     print(scope)
        None
    """
    if check_distribute(distribute) is None:
        yield None
        return
    backend = keras.backend.backend()
    if backend == "jax":
        distribution = _jax_distribution()
        with distribution.scope():
            yield distribution
    elif backend == "tensorflow":
        strategy = _tf_strategy()
        with strategy.scope():
            yield strategy
    else:
        raise _unsupported(backend)


def replica_count(scope: Any) -> int:
    """Number of replicas of a scope yielded by :func:`distribution_scope`.

    Example:
        >>> replica_count(None)
        1
    """
    if scope is None:
        return 1
    if hasattr(scope, "num_replicas_in_sync"):  # tf.distribute
        return int(scope.num_replicas_in_sync)
    mesh = scope.device_mesh  # keras.distribution.DataParallel
    return int(mesh.shape[mesh.axis_names.index(scope.batch_dim_name)])


def check_global_batch(batch_size: int, scope: Any) -> None:
    """Checks that the global batch splits evenly over the replicas.

    Args:
        batch_size: Examples per step (the global batch).
        scope: What :func:`distribution_scope` yielded.

    Raises:
        ValueError: If `batch_size` is not a multiple of the replica count.

    Example:
        >>> check_global_batch(32, None)
    """
    replicas = replica_count(scope)
    if batch_size % replicas:
        raise ValueError(
            "`batch_size` (the global batch) must be a multiple of the "
            f"number of replicas ({replicas}) with distribute="
            f"'data-parallel'. Received: batch_size={batch_size!r}"
        )


def predict(model: Any, inputs: Any, batch_size: int) -> Any:
    """`model.predict` that also works when a batch does not split evenly.

    Under a `keras.distribution` distribution (JAX), every batch must split
    evenly over the devices: the inputs are padded (repeating the last row)
    to a multiple of the replica count, with a batch size rounded up to
    one, and the outputs cropped back. Otherwise this is `model.predict`
    (a `tf.distribute` strategy splits uneven batches itself).

    Args:
        model: A Keras model.
        inputs: An array or a dict of arrays with the examples on axis 0.
        batch_size: Examples per prediction batch.

    Returns:
        The predictions, one per example of `inputs`.
    """
    distribution = keras.distribution.distribution()
    if distribution is None:
        return model.predict(inputs, batch_size=batch_size, verbose=0)
    if process_count() > 1:
        return _local_predict(model, inputs, batch_size)
    replicas = replica_count(distribution)
    n = len(keras.tree.flatten(inputs)[0])
    pad = -n % replicas
    batch_size = -(-batch_size // replicas) * replicas
    padded = keras.tree.map_structure(
        lambda a: np.concatenate([a, np.repeat(a[-1:], pad, axis=0)]), inputs
    )
    outputs = model.predict(padded, batch_size=batch_size, verbose=0)
    return keras.tree.map_structure(lambda a: np.asarray(a)[:n], outputs)


#: The jitted forward pass of each model predicted by `_local_predict`.
_FORWARD: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _local_predict(model: Any, inputs: Any, batch_size: int) -> Any:
    """Every process predicts all of `inputs` on its own device, from its
    copy of the (fully replicated) variables: Keras's `predict` would
    split the inputs over the processes and cannot read the outputs back.
    """
    import jax

    def local(variables: list[Any]) -> list[Any]:
        return [v.value.addressable_data(0) for v in variables]

    trainable = local(model.trainable_variables)
    non_trainable = local(model.non_trainable_variables)
    forward = _FORWARD.get(model)
    if forward is None:  # one per model: each batch shape compiles once
        forward = jax.jit(
            lambda t, n, x: model.stateless_call(t, n, x, training=False)[0]
        )
        _FORWARD[model] = forward
    n = len(keras.tree.flatten(inputs)[0])
    parts = []
    for start in range(0, n, batch_size):
        batch = keras.tree.map_structure(
            lambda a, s=start: np.asarray(a)[s : s + batch_size], inputs
        )
        parts.append(
            keras.tree.map_structure(
                np.asarray, forward(trainable, non_trainable, batch)
            )
        )
    return keras.tree.map_structure(
        lambda *p: np.concatenate(p, axis=0), *parts
    )
