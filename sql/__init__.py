"""Package data: the SQL statements, migrations and demo data (read with importlib.resources)."""
