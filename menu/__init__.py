"""menu: the Chinese menu of LSTM/CTC text-line recognition."""

import os

# Idle OpenMP threads sleep instead of spinning (read when torch loads its OpenMP runtime,
# so it must come before `import torch`). Spinning threads burn CPU time that other jobs
# need: with a 2-thread run next to two busy processes, a training step took 2.2x the wall
# and CPU time with the default policy (scripts/bench.py --only spin). A value the user
# set is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
