"""The `smp` command: prune, evaluate, export, report, demo.

A thin layer over :mod:`smp_keras.api`; run ``smp --help``.
"""

from smp_keras.cli.main import main

__all__ = ["main"]
