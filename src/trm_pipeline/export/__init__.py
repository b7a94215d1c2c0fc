"""ONNX export of one TRM supervision step, its verification and the onnxruntime loop.

- :mod:`.onnx_export`: the float32 graph of one supervision step (torch, the dynamo exporter);
- :mod:`.verification`: onnxruntime against PyTorch over all supervision steps;
- :mod:`.runtime`: the onnxruntime session and the recursion loop (numpy only, no torch), used
  by the solver page, the verification and the benchmark;
- :mod:`.dataset`: the Kedro dataset that writes ``model.onnx`` atomically.

Nothing is imported here, so ``trm_pipeline.export.runtime`` can be used without torch.
"""
