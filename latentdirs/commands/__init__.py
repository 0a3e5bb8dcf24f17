"""CLI commands, one module each; every module exposes ``command`` (a click command)."""
