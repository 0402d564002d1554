"""Shared fixtures. Tests use tiny real data made on the fly in tmp_path, with fixed seeds."""

import zlib  # noqa: F401  (before paddle, see slimdet/__init__.py)
