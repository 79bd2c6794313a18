"""The `ganrt` command line. This module only wires the commands together; each lives in its
own module and imports torch, onnxruntime and friends inside the command, so `--help` is instant."""

from __future__ import annotations

import typer

from ganrt import __version__
from ganrt.cli import bench_cmd, build_cmd, doctor_cmd, export_cmd, models_cmd, restore_cmd, video_cmd

app = typer.Typer(
    name="ganrt",
    help="Restore and upscale photos and video with GAN generators (Real-ESRGAN and kin) on "
         "PyTorch, ONNX Runtime, OpenVINO and TensorRT.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"ganrt {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version and exit.")) -> None:
    """ganrt: GAN restoration at production throughput."""


app.command("restore")(restore_cmd.restore)
app.command("video")(video_cmd.video)
app.command("models")(models_cmd.models)
app.command("info")(models_cmd.info)
app.command("export")(export_cmd.export)
app.command("build")(build_cmd.build)
app.command("doctor")(doctor_cmd.doctor)
app.command("bench")(bench_cmd.bench)


def main() -> None:
    app()
