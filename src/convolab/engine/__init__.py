"""The training and prediction engine: device and layout, fused plan, train step, predict, C kernels."""
