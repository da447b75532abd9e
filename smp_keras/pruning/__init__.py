"""The end-to-end pruning job behind ``smp_keras.api`` and `smp`.

- ``smp_keras.pruning.config``: ``PruneConfig`` (no Keras import);
- ``smp_keras.pruning.methods``: the methods as one table (no Keras
  import);
- ``smp_keras.pruning.train``: ``prune``, resumable training;
- ``smp_keras.pruning.evaluate``: ``evaluate``, ``export``;
- ``smp_keras.pruning.report``: ``report`` (no Keras import);
- ``smp_keras.pruning.demo``: ``demo``, the embedded default;
- ``smp_keras.pruning.run_dir``: run directories and checkpoints.

The public names are re-exported by ``smp_keras.api``.
"""
