"""The lease scripts of infra/leader.py (packaged data, loaded with importlib.resources)."""
