"""Model parts, one module per config group, and the assembly that composes them."""

from menu.models.build import Recognizer, build_model, ctc_min_length

__all__ = ["Recognizer", "build_model", "ctc_min_length"]
