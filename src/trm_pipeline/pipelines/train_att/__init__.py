"""The train_att pipeline: TRM with self-attention and RoPE."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
