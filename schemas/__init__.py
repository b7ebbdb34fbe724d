"""Package data: the JSON Schema contracts and the OpenAPI base (read with importlib.resources)."""
