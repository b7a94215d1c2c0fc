"""Evaluation nodes added to each training pipeline (after ``train_model_node``)."""

from kedro.pipeline import Node

# Global (not namespaced) parameters that the nodes below read, e.g. {"params:evaluation"}.
EVALUATION_PARAMETERS: set[str] = set()


def evaluation_nodes() -> list[Node]:
    """Return the evaluation nodes of one variant, before namespacing."""
    return []
