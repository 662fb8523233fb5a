"""Levante engine component (not built yet)."""
