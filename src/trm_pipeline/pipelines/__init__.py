"""Kedro pipelines: thin wiring of the node functions."""
