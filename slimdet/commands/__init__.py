"""One core per command: build what the command needs from its config, run it, return a result dataclass.

``slimdet.cli`` parses and renders; each of its commands calls one function here (or, for commands whose
work is a package of its own, in ``slim``/``deploy``/``data``). These modules load paddle when imported.
"""
