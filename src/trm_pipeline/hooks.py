"""Project hooks: checks that apply to a whole Kedro run."""

from __future__ import annotations

import os
from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.pipeline import Pipeline

TRAINING_NODE_SUFFIX = "train_model_node"


class DistributedRunHooks:
    """Hook that rejects ``torchrun`` runs with more than one training node.

    Under ``torchrun`` the ranks other than 0 exit once training ends. A second training node
    would then wait for processes that are gone, so one run trains one variant.
    """

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Pipeline) -> None:
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        if world_size <= 1:
            return
        training_nodes = sorted(
            node.name for node in pipeline.nodes if node.name.endswith(TRAINING_NODE_SUFFIX)
        )
        if len(training_nodes) > 1:
            raise ValueError(
                f"This run has {len(training_nodes)} training nodes ({', '.join(training_nodes)}) "
                f"under torchrun with {world_size} processes; train one variant per torchrun "
                "command, e.g. --pipelines=train_att, then --pipelines=train_mlp."
            )
