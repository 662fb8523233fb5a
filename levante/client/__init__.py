"""Levante client component (not built yet)."""
