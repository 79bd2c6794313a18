"""Model zoo (built-in Real-ESRGAN weights converted from ncnn) and user model files via spandrel."""

from ganrt.models.loader import LoadedModel, load_model
from ganrt.models.registry import BUILTIN_MODELS, ModelEntry

__all__ = ["BUILTIN_MODELS", "LoadedModel", "ModelEntry", "load_model"]
