"""Wiring of a training pipeline: data processing, then one namespaced variant's nodes."""

from kedro.pipeline import Node, Pipeline

from trm_pipeline.pipelines.data_processing.pipeline import create_pipeline as data_pipeline
from trm_pipeline.training_pipeline import nodes
from trm_pipeline.training_pipeline.evaluation import EVALUATION_PARAMETERS, evaluation_nodes
from trm_pipeline.training_pipeline.export import EXPORT_PARAMETERS, export_nodes

SHARED_INPUTS = {"train_inputs", "test_inputs"}


def create_training_pipeline(namespace: str) -> Pipeline:
    """Return data processing plus train, evaluate and export nodes under ``namespace``.

    Dataset and parameter names of the variant's nodes get the namespace prefix
    (``params:model`` reads ``<namespace>.model``, ``best_model`` is
    ``<namespace>.best_model``); the model inputs and the evaluation and export settings
    stay shared.
    """
    training = Node(
        nodes.train_model,
        inputs=["train_inputs", "test_inputs", "params:variant", "params:model", "params:training"],
        outputs=["best_model", "last_model", "training_summary"],
        name="train_model_node",
    )
    variant = Pipeline([training, *evaluation_nodes(), *export_nodes()])
    namespaced = Pipeline(
        variant,
        namespace=namespace,
        inputs=SHARED_INPUTS,
        parameters=EVALUATION_PARAMETERS | EXPORT_PARAMETERS,
    )
    return data_pipeline() + namespaced
