"""Levante executor component (not built yet)."""
