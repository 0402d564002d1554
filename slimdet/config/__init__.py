"""PaddleDetection 0.x YAML configs, read safely and validated before any heavy work.

``load_config(path, overrides)`` is the one entry point: ``tags.py`` reads YAML (``!Tag`` → data,
Python tags refused), ``includes.py`` resolves ``_READER_``/``_BASE_`` and merges, ``overrides.py``
parses ``-o key=value``, ``schema.py`` declares the known sections, ``checks.py`` enforces them, and
``config.py`` puts it together into a frozen ``Config``.
"""

from slimdet.config.config import Config, ConfigProblems, load_config

__all__ = ["Config", "ConfigProblems", "load_config"]
