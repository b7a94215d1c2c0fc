"""The data_processing pipeline: raw puzzles to model inputs."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
