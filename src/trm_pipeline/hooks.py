"""Project hooks: checks that apply to a whole Kedro run."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.pipeline import Pipeline

TRAINING_NODE_SUFFIX = "train_model_node"


def parameter_parsers() -> dict[str, Callable[[Any], Any]]:
    """Return the parser of each parameter block, by the last part of its name.

    ``params:train_att.model`` ends in "model". Each parser raises ValueError naming the
    invalid key or value. The imports are here because they load torch and onnx, which
    commands such as ``kedro viz`` do not need.
    """
    from trm_pipeline.dataset.config import DataConfig
    from trm_pipeline.evaluation.config import EvaluationConfig
    from trm_pipeline.export.config import ExportConfig
    from trm_pipeline.model.config import TRMConfig
    from trm_pipeline.training.config import TrainingConfig

    return {
        "data": DataConfig.from_dict,
        "model": TRMConfig.from_dict,
        "training": TrainingConfig.from_dict,
        "evaluation": EvaluationConfig.from_dict,
        "export": ExportConfig.from_dict,
    }


class ParameterCheckHooks:
    """Hook that parses every parameter block the run's nodes read before the first node runs.

    Each node parses its own block again when it starts. Checking them all up front stops a
    typo in ``training`` or ``export`` before minutes of data processing and training.
    """

    @hook_impl
    def before_pipeline_run(
        self, run_params: dict[str, Any], pipeline: Pipeline, catalog: Any
    ) -> None:
        names = sorted({name for node in pipeline.nodes for name in node.inputs})
        parsers = parameter_parsers()
        problems = []
        for name in names:
            parser = parsers.get(name.rsplit(".", 1)[-1].removeprefix("params:"))
            if not name.startswith("params:") or parser is None:
                continue
            try:
                parser(catalog.load(name))
            except (TypeError, ValueError) as error:
                problems.append(f"{name}: {error}")
        if problems:
            raise ValueError(
                "Invalid parameters, found before the run started:\n- "
                + "\n- ".join(problems)
                + "\nFix them in conf/<env>/parameters_*.yml or in --params."
            )


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
