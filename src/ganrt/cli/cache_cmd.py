"""`ganrt cache`: what the cache holds per kind, and cleaning it (everything in it can be rebuilt)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from ganrt.cli.common import JsonOpt, console, flag, handle_errors


@handle_errors
def cache(
    clean: Annotated[bool, flag("--clean", help="Delete cached files (all kinds, or those given with --kind).")] = False,
    kind: Annotated[list[str] | None, typer.Option("--kind", help="Limit to a kind: models, onnx, openvino, engines, choices (repeatable).")] = None,
    older_than: Annotated[float | None, typer.Option("--older-than", help="With --clean: only files unused for this many days.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Show the cache folder's size per kind, or clean it."""
    from ganrt import cache as store
    from ganrt.validate import check_choice, check_positive
    from ganrt.errors import UsageError

    for k in kind or []:
        check_choice(k, tuple(store.KINDS), "--kind")
    if older_than is not None:
        if not clean:
            raise UsageError("--older-than applies to --clean")
        check_positive(older_than, "--older-than")
    if clean:
        files, freed, kept = store.clean(kind or None, older_than_days=older_than)
        message = {"removed_files": files, "removed_bytes": freed, "directory": str(store.cache_root()),
                   "kept_folders": kept}
        if as_json:
            typer.echo(json.dumps(message, indent=2))
            return
        console().print(f"removed {files} file(s), {freed / 2**20:.1f} MB from {store.cache_root()}", markup=False)
        if kept:
            console().print(f"kept {', '.join(kept)}: not made by ganrt (no {store.MARKER} marker); nothing in "
                            f"{'it' if len(kept) == 1 else 'them'} was deleted", markup=False)
        return
    rows = [r for r in store.usage() if not kind or r["kind"] in kind]
    if as_json:
        typer.echo(json.dumps({"directory": str(store.cache_root()), "kinds": rows}, indent=2))
        return
    from rich.table import Table

    table = Table(title=f"ganrt cache: {store.cache_root()}")
    for col in ("kind", "files", "size", "what"):
        table.add_column(col, justify="right" if col in ("files", "size") else "left")
    for r in rows:
        table.add_row(r["kind"], str(r["files"]), f"{r['bytes'] / 2**20:.1f} MB", r["what"])
    table.add_row("total", str(sum(r["files"] for r in rows)), f"{sum(r['bytes'] for r in rows) / 2**20:.1f} MB", "")
    console().print(table)
