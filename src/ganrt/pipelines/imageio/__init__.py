"""Reading and writing image files faithfully: formats, metadata, sidecars, density."""
