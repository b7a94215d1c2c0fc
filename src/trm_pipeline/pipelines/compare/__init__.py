"""The compare pipeline: the attention and MLP variants side by side in one Markdown report."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
