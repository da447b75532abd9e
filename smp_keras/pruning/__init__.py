"""The end-to-end pruning job behind :mod:`smp_keras.api` and `smp`.

- :mod:`~smp_keras.pruning.config`: :class:`PruneConfig` (no Keras import);
- :mod:`~smp_keras.pruning.train`: :func:`prune`, resumable training;
- :mod:`~smp_keras.pruning.evaluate`: :func:`evaluate`, :func:`export`;
- :mod:`~smp_keras.pruning.report`: :func:`report` (no Keras import);
- :mod:`~smp_keras.pruning.demo`: :func:`demo`, the embedded default;
- :mod:`~smp_keras.pruning.run_dir`: run directories and checkpoints.

The public names are re-exported by :mod:`smp_keras.api`.
"""
