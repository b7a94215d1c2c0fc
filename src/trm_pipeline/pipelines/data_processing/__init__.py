"""The data_processing pipeline: raw puzzles to model inputs."""
