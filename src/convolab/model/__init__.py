"""The model: its spec (JSON/text), the walk over its layers, the Sequential module, the zoo."""
