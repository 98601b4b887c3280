"""The training and prediction engine: device and memory layout, the fused plan, the train step, native kernels."""
