"""Kedro project settings."""

import os

from kedro.config import OmegaConfigLoader
from omegaconf.resolvers import oc

from trm_pipeline.hooks import DistributedRunHooks, ParameterCheckHooks

HOOKS = (DistributedRunHooks(), ParameterCheckHooks())

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # `oc.env` lets mlflow.yml take its tracking URI from MLFLOW_TRACKING_URI, so tests and
    # users can point runs at another store without editing the config.
    "custom_resolvers": {"oc.env": oc.env},
    "config_patterns": {"mlflow": ["mlflow*", "mlflow*/**"]},
    # `quick` and `test` change a few nested keys; a soft merge keeps the rest of `base`.
    "merge_strategy": {"parameters": "soft"},
}

# Under torchrun every process runs the pipeline, but only rank 0 opens an MLflow run and
# records kedro-viz run events. The names are the plugins' wheel distribution names.
if int(os.environ.get("RANK", "0")) > 0:
    DISABLE_HOOKS_FOR_PLUGINS = ("kedro_mlflow", "kedro-viz")
