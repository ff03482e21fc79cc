"""devproxy: a local development reverse proxy (one origin, or spec-exact CORS)."""

__version__ = "0.1.0"
# What `devproxy export` writes; here so the CLI can offer the choices without importing
# the exporter (a large module `devproxy up` never needs).
EXPORT_FORMATS = ("nginx", "caddy", "traefik")
