"""The train_mlp pipeline: TRM with the token-mixing MLP (MLP-mixer)."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
