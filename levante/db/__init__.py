"""Levante db component (not built yet)."""
