"""menu: the Chinese menu of LSTM/CTC text-line recognition.

The Python API (see ``menu.api``): ``menu.compose(...)``, ``menu.train(cfg)``,
``menu.load(checkpoint).recognize(images)``.
"""

import os

# Idle OpenMP threads sleep instead of spinning (read when torch loads its OpenMP runtime,
# so it must come before `import torch`). Spinning threads burn CPU time that other jobs
# need, and that a CPU-time budget charges to the run (scripts/bench.py --only fairness).
# A value the user set is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from menu.api import Model, compose, load, train

__version__ = "0.1.0"
__all__ = ["Model", "compose", "load", "train"]
