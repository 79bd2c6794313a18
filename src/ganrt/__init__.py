"""ganrt: GAN restoration generators exported to ONNX / TensorRT and run at production throughput."""

__version__ = "0.1.0"
