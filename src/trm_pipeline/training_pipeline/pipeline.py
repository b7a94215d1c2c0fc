"""Wiring of a training pipeline: data processing, then training of one namespaced variant."""

from kedro.pipeline import Node, Pipeline

from trm_pipeline.pipelines.data_processing.pipeline import create_pipeline as data_pipeline
from trm_pipeline.training_pipeline import nodes

SHARED_INPUTS = {"train_inputs", "test_inputs"}


def create_training_pipeline(namespace: str) -> Pipeline:
    """Return data processing plus the training nodes under ``namespace`` (e.g. ``train_att``).

    Dataset and parameter names of the training nodes get the namespace prefix
    (``params:model`` reads ``<namespace>.model``); the model inputs stay shared.
    """
    training = Pipeline(
        [
            Node(
                nodes.train_model,
                inputs=[
                    "train_inputs",
                    "test_inputs",
                    "params:variant",
                    "params:model",
                    "params:training",
                ],
                outputs=["best_model", "last_model", "training_summary"],
                name="train_model_node",
            ),
        ]
    )
    namespaced = Pipeline(training, namespace=namespace, inputs=SHARED_INPUTS)
    return data_pipeline() + namespaced
