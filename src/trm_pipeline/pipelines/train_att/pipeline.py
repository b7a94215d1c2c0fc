"""Wiring of the train_att pipeline."""

from kedro.pipeline import Pipeline

from trm_pipeline.training_pipeline import create_training_pipeline


def create_pipeline(**kwargs) -> Pipeline:
    return create_training_pipeline("train_att")
