"""menu: the Chinese menu of LSTM/CTC text-line recognition.

The Python API (see ``menu.api``): ``menu.compose(...)``, ``menu.train(cfg)``,
``menu.load(checkpoint).recognize(images)``.
"""

from menu.api import Model, compose, load, train

__version__ = "0.1.0"
__all__ = ["Model", "compose", "load", "train"]
