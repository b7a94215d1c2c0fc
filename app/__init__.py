"""The Sudoku solver page: Gradio Blocks on the exported ONNX models."""
