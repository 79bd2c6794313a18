"""Build steps: PyTorch → ONNX (fp32), ONNX → strongly typed fp16 ONNX, ONNX → TensorRT engine."""
