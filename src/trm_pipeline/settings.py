"""Kedro project settings."""

from kedro.config import OmegaConfigLoader
from omegaconf.resolvers import oc

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
