"""Levante actions component (not built yet)."""
