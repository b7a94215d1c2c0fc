"""Wiring of the compare pipeline (``kedro run --pipelines=compare``; not in ``__default__``)."""

from kedro.pipeline import Node, Pipeline

from trm_pipeline.pipelines.compare import nodes

# Outputs of the namespaced training pipelines. Kedro warns once that these dotted names lie
# outside the reading node's namespace; reading them is intended.
REPORTS = ["train_att.evaluation_report", "train_mlp.evaluation_report"]


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                nodes.fetch_training_runs,
                inputs=REPORTS,
                outputs="compare_training_runs",
                name="fetch_training_runs_node",
            ),
            Node(
                nodes.plot_comparison,
                inputs=[*REPORTS, "compare_training_runs"],
                outputs=[
                    "compare_training_curves_plot",
                    "compare_accuracy_by_step_plot",
                    "compare_accuracy_by_rating_plot",
                    "compare_halt_calibration_plot",
                ],
                name="plot_comparison_node",
            ),
            Node(
                nodes.write_comparison,
                inputs=[*REPORTS, "compare_training_runs"],
                outputs="compare_report",
                name="write_comparison_node",
            ),
        ]
    )
