"""Static analysis of a model: shapes, parameters, FLOPs, memory, receptive fields, and their table."""
