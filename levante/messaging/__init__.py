"""Levante messaging component (not built yet)."""
