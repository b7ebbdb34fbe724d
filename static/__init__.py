"""Package data: the launch page and the study activity (read with importlib.resources)."""
