"""Bundle exporter (see export_bundle.py)."""
