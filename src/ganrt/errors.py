"""Typed exceptions for everything a user can cause.

The CLI turns each of these into one clear line and a non-zero exit code
(see ``ganrt.cli.errors``); anything else is a bug and keeps its traceback
when ``GANRT_DEBUG=1``.
"""


class GanrtError(Exception):
    """Base class: a problem the user can fix. ``str(err)`` is the message shown."""

    exit_code = 1


class UsageError(GanrtError):
    """A wrong flag, a bad combination of options, an output that would escape its folder."""

    exit_code = 2


class UnknownModelError(GanrtError):
    """A model name that is neither built in nor an existing file."""

    exit_code = 2


class ModelLoadError(GanrtError):
    """A model file that cannot be read: corrupt, unsupported architecture, unsafe pickle."""


class UnsafeCheckpointError(ModelLoadError):
    """A pickle checkpoint that needs arbitrary code to unpickle; nothing in it was run."""


class WeightConversionError(ModelLoadError):
    """The ncnn weight files did not convert cleanly (layout or byte count mismatch)."""


class ImageReadError(GanrtError):
    """An input image that is missing, empty, truncated, too large or not an image."""


class ImageWriteError(GanrtError):
    """An output that could not be written."""


class BackendUnavailableError(GanrtError):
    """A backend, device or precision that this machine cannot run."""


class NonFiniteOutputError(GanrtError):
    """The engine produced NaN/Inf even after the fp32 fallback."""


class ExportError(GanrtError):
    """ONNX export or its parity check failed."""


class EngineBuildError(GanrtError):
    """A TensorRT engine could not be built."""


class VideoError(GanrtError):
    """A video that cannot be read, encoded or muxed."""
