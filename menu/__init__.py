"""menu: the Chinese menu of LSTM/CTC text-line recognition."""

__version__ = "0.1.0"
