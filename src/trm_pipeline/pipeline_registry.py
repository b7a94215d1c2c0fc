"""Project pipelines."""

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines.

    Returns:
        A mapping from pipeline names to ``Pipeline`` objects. ``__default__`` trains both
        variants (each training pipeline already contains the data processing it needs).
    """
    pipelines = find_pipelines(raise_errors=True)
    training = [pipelines[name] for name in ("train_att", "train_mlp") if name in pipelines]
    pipelines["__default__"] = sum(training, Pipeline([])) if training else sum(pipelines.values())
    return pipelines
