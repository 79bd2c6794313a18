"""`ganrt models` and `ganrt info`: the zoo as a table or JSON, one model in detail."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from ganrt.cli.common import JsonOpt, console, handle_errors


def _builtin_rows() -> list[dict]:
    from ganrt.models.registry import BUILTIN_MODELS
    from ganrt.models.zoo import count_params, is_cached, is_installed

    rows = []
    for e in BUILTIN_MODELS:
        installed = is_installed(e)
        rows.append({
            "name": e.name, "arch": e.arch, "scale": e.scale, "outscale": e.outscale, "in_channels": e.in_channels,
            "params": count_params(e) if installed else None, "precisions": list(e.precisions),
            "license": e.license, "source": e.source, "installed": installed,
            "install": None if installed else e.pip_command(), "cached": is_cached(e), "description": e.description,
        })
    return rows


@handle_errors
def models(as_json: JsonOpt = False) -> None:
    """List the built-in models: architecture, scale, size, whether installed (or the pip command), cached."""
    rows = _builtin_rows()
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    from rich.table import Table

    table = Table(title="built-in models")
    for col in ("name", "arch", "scale", "params", "installed", "cached", "use"):
        table.add_column(col, no_wrap=col in ("name", "installed"))
    for r in rows:
        scale = f"×{r['scale']}" + (f" → ×{r['outscale']:g}" if r["outscale"] else "")
        params = f"{r['params'] / 1e6:.2f}M" if r["params"] else "-"
        table.add_row(r["name"], r["arch"], scale, params, "yes" if r["installed"] else r["install"],
                      "yes" if r["cached"] else "no", r["description"])
    console().print(table)


@handle_errors
def info(model: Annotated[str, typer.Argument(help="Built-in model name or model file.")],
         as_json: JsonOpt = False) -> None:
    """Show one model: built-in or a file (architecture detected by spandrel)."""
    from ganrt.models import load_model
    from ganrt.models.registry import find_builtin
    from ganrt.models.zoo import is_cached

    loaded = load_model(model)
    data = loaded.info()
    entry = find_builtin(model)
    if entry is not None:
        data.update(description=entry.description, cached=is_cached(entry))
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    from rich.table import Table
    from rich.text import Text

    table = Table(show_header=False, title=loaded.name)
    for key, value in data.items():
        if isinstance(value, list):
            value = ", ".join(map(str, value))
        table.add_row(key, Text(str(value)))
    console().print(table)
