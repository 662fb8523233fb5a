"""Levante api component (not built yet)."""
