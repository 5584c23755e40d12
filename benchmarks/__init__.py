"""Performance benchmarks of the framework (``scripts/bench.py``; not installed with menu).

Every measurement is a function returning plain dicts, so tests can call them with tiny
sizes. Throughputs are steady-state rates: warm-up steps/passes are run and not timed,
and repeated measurements are summarized by :func:`stats` (median, min, max).

* :func:`matmul_peak` -- float32 ``torch.mm`` GFLOP/s, the reference "peak".
* :func:`framework_train` -- lines/s of ``menu.training.run`` (the menu-train path: same
  config, loaders, LitRecognizer, Lightning Trainer), timed by a callback between the end
  of the last warm-up step and the end of the last step (data loading in the process,
  optimizer, logging and callbacks included; the test pass after training excluded).
* :func:`bare_train` -- the same model, batches (same loader and seed), loss, gradient
  clipping, Adam and schedule in a plain PyTorch loop; optionally ``torch.compile``.
* :func:`step_flops` -- FLOPs of one training step (``FlopCounterMode``).
* :func:`op_profile` -- where a training step's time goes, by operator family
  (``torch.profiler``), and the share of the matmul peak the rest of the step allows.
* :func:`data_throughput` -- decode + normalize + batch lines/s per normalizer.
* :func:`infer_throughput` -- ``load_checkpoint`` + ``menu.infer.evaluate`` lines/s.
* :func:`synth_throughput` -- ``menu.data.synth.generate`` lines/s.
* :func:`preset_memory` -- peak RSS of a preset's training in a fresh subprocess.
* :func:`tesseract_compare` -- tesseract ``--psm 7`` vs a menu checkpoint on the same PNGs.
* :func:`tta_compare` -- time to target validation CERs of training recipes, over seeds.
"""

from benchmarks.common import *  # noqa: F403  (one namespace for scripts and tests)
from benchmarks.memory import *  # noqa: F403
from benchmarks.profile import *  # noqa: F403
from benchmarks.report import *  # noqa: F403
from benchmarks.run import *  # noqa: F403
from benchmarks.tesseract import *  # noqa: F403
from benchmarks.throughput import *  # noqa: F403
from benchmarks.train import *  # noqa: F403
from benchmarks.tta import *  # noqa: F403
