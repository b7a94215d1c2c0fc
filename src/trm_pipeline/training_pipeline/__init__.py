"""The training pipeline shared by the ``train_att`` and ``train_mlp`` namespaces."""

from trm_pipeline.training_pipeline.pipeline import create_training_pipeline

__all__ = ["create_training_pipeline"]
