"""Typer classes that keep --help clean: Typer 0.29 shows ``<bool>`` after the --help flag."""

from __future__ import annotations

from typer.core import TyperCommand, TyperGroup


class PlainHelpFlag:
    """A flag takes no value, so show none after --help."""

    def get_help_option(self, ctx):
        option = super().get_help_option(ctx)
        if option is not None and option.metavar is None:
            option.metavar = ""
        return option


class GanrtCommand(PlainHelpFlag, TyperCommand):
    pass


class GanrtSubGroup(PlainHelpFlag, TyperGroup):
    pass
