"""One core per command: build what the command needs from its config, run it, return a result dataclass.

``slimdet.cli`` parses and renders; each of its commands calls one function here (``slimdet data`` and
``slimdet config`` excepted: their work is the ``data``/``config`` package's own). The cores compose the
libraries below them (``slim``, ``deploy``, ``engine``, ...); the demo's core strings the other cores
together. Most of these modules load paddle when imported; ``sensitivity_results``, ``sensitivity_ratios``
(paddle only for a FLOPs target) and ``demo_configs`` do not.
"""
