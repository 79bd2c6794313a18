"""Repair of damaged photos: damage detection, fillers, face restoration, repair stages."""
