"""`python -m smp_keras.cli` runs the `smp` command."""

import sys

from smp_keras.cli.main import main

sys.exit(main())
