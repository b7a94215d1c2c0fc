"""Wiring of the data_processing pipeline."""

from kedro.pipeline import Node, Pipeline

from trm_pipeline.pipelines.data_processing import nodes


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                nodes.load_raw_puzzles,
                inputs="params:data",
                outputs=["raw_train_puzzles", "raw_test_puzzles"],
                name="load_raw_puzzles_node",
            ),
            Node(
                nodes.validate_puzzles,
                inputs=["raw_train_puzzles", "params:data"],
                outputs="validated_train_puzzles",
                name="validate_train_puzzles_node",
            ),
            Node(
                nodes.validate_puzzles,
                inputs=["raw_test_puzzles", "params:data"],
                outputs="validated_test_puzzles",
                name="validate_test_puzzles_node",
            ),
            Node(
                nodes.select_training_puzzles,
                inputs=["validated_train_puzzles", "params:data"],
                outputs="train_puzzles",
                name="select_training_puzzles_node",
            ),
            Node(
                nodes.select_test_puzzles,
                inputs=["validated_test_puzzles", "params:data"],
                outputs="test_puzzles",
                name="select_test_puzzles_node",
            ),
            Node(
                nodes.build_train_inputs,
                inputs=["train_puzzles", "params:data"],
                outputs="train_inputs",
                name="build_train_inputs_node",
            ),
            Node(
                nodes.build_test_inputs,
                inputs=["test_puzzles", "params:data"],
                outputs="test_inputs",
                name="build_test_inputs_node",
            ),
            Node(
                nodes.report_leakage,
                inputs=["train_puzzles", "test_puzzles"],
                outputs="leakage_report",
                name="report_leakage_node",
            ),
        ]
    )
