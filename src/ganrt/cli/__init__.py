"""The `ganrt` command line. This module only wires the commands together; each lives in its
own module and imports torch, onnxruntime and friends inside the command, so `--help` is instant.

``main`` builds only the command it runs: ``ganrt restore …`` imports ``restore_cmd`` and turns
its one signature into Click's, instead of importing all eleven command modules and reading
every signature (0.05–0.09 s of each single-photo run). ``ganrt``, ``ganrt --help`` and an
unknown name get the whole app; so does ``from ganrt.cli import app``.

``GanrtGroup.main`` is the one place where the exit-code contract is kept for
what happens outside a command: Click's own usage errors (a missing argument,
a bad number) become one ``error:`` line and exit 2, SIGTERM is handled like
Ctrl-C (exit 143 instead of 130), upstream spellings are translated first, and
libraries' Python warnings are silenced (``GANRT_DEBUG=1`` shows them).
"""

from __future__ import annotations

import os
import sys
import warnings

import typer
from typer.core import TyperGroup

try:
    from typer._click import exceptions as click_exceptions  # Typer 0.29 carries its own copy of Click
except ImportError:  # pragma: no cover - older Typer on top of Click
    from click import exceptions as click_exceptions

from ganrt import __version__
from ganrt.cli.help_classes import GanrtCommand, PlainHelpFlag
from ganrt.errors import EXIT_OK, EXIT_USAGE, GanrtError


class GanrtGroup(PlainHelpFlag, TyperGroup):
    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        from ganrt import signals
        from ganrt.cli.aliases import translate
        from ganrt.cli.common import fail

        signals.install()
        for stream in (sys.stdout, sys.stderr):
            if hasattr(stream, "reconfigure"):
                stream.reconfigure(errors="backslashreplace")  # file names that are not UTF-8
        args = list(sys.argv[1:] if args is None else args)
        try:
            args = translate(args)
            with warnings.catch_warnings():
                if not os.environ.get("GANRT_DEBUG"):
                    # Python warnings come from libraries (torch's unpickler on a refused file, a model's
                    # deprecated calls): nothing a user can act on, and they would stand before the one
                    # line that says what happened. ganrt's own warnings are log lines, not these
                    warnings.simplefilter("ignore")
                code = super().main(args=args, prog_name=prog_name or "ganrt", complete_var=complete_var,
                                    standalone_mode=False, **extra)
            code = code if isinstance(code, int) else EXIT_OK
        except GanrtError as exc:
            code = fail(str(exc), exc.exit_code).exit_code
        except click_exceptions.NoArgsIsHelpError:
            code = EXIT_OK  # the help was printed when the error was made
        except click_exceptions.UsageError as exc:
            command = exc.ctx.command_path if exc.ctx is not None else "ganrt"
            message = exc.format_message().rstrip(".")
            code = fail(f"{message[:1].lower()}{message[1:]} (see `{command} --help`)", EXIT_USAGE).exit_code
        except click_exceptions.ClickException as exc:
            code = fail(exc.format_message(), exc.exit_code).exit_code
        except typer.Abort:
            code = fail("interrupted", signals.exit_code_for(KeyboardInterrupt())).exit_code
        except KeyboardInterrupt as exc:
            code = fail(signals.describe(exc), signals.exit_code_for(exc)).exit_code
        if standalone_mode:
            sys.exit(code)
        return code


# command name → (module in ganrt.cli, attribute): a function, or a Typer app for a command group
COMMANDS = {
    "restore": ("restore_cmd", "restore"),
    "repair": ("repair_cmd", "repair"),
    "video": ("video_cmd", "video"),
    "generate": ("generate_cmd", "generate"),
    "models": ("models_cmd", "models"),
    "info": ("models_cmd", "info"),
    "export": ("export_cmd", "export"),
    "build": ("build_cmd", "build"),
    "bench": ("bench_cmd", "bench"),
    "doctor": ("doctor_cmd", "doctor"),
    "cache": ("cache_cmd", "cache"),
    "train": ("train_cmd", "train_app"),
}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"ganrt {__version__}")
        raise typer.Exit()


def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, metavar="",
                                       help="Print the version and exit.")) -> None:
    """ganrt: GAN restoration at production throughput."""


def build_app(names=None) -> typer.Typer:
    """The `ganrt` app with the commands ``names`` (all of them when None), in the order of COMMANDS.
    The root callback keeps it a group even with one command, so `ganrt restore …` parses the same."""
    from importlib import import_module

    built = typer.Typer(
        name="ganrt",
        cls=GanrtGroup,
        help="Restore and upscale photos and video with GAN generators (Real-ESRGAN and kin) on "
             "PyTorch, ONNX Runtime, OpenVINO and TensorRT.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    built.callback()(_root)
    for name, (module, attribute) in COMMANDS.items():
        if names is not None and name not in names:
            continue
        target = getattr(import_module(f"ganrt.cli.{module}"), attribute)
        if isinstance(target, typer.Typer):
            built.add_typer(target, name=name)
        else:
            built.command(name, cls=GanrtCommand)(target)
    return built


def __getattr__(name: str):
    if name == "app":  # the whole app, built on first use and kept
        globals()["app"] = build_app()
        return globals()["app"]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    from ganrt.cli.aliases import command_name

    name = command_name(sys.argv[1:])
    (build_app([name]) if name in COMMANDS else build_app())()
