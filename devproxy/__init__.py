"""devproxy: a local development reverse proxy (one origin, or spec-exact CORS)."""

__version__ = "0.1.0"
