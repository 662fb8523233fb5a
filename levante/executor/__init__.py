"""Executors: run actions and report their results."""
