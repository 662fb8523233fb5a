"""Levante: a workflow engine speaking Mistral's workflow language v2."""

__version__ = "0.1.0"
