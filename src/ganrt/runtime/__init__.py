"""Backends behind one engine interface, and tiling (see ``base``, ``registry``, ``tiling``)."""
