"""Running archive and video jobs on a Ray cluster."""
