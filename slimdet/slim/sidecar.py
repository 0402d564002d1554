"""Files kept beside a checkpoint that say how to read its weights: ``<stem>.plan.json`` (the pruned structure)
and ``<stem>.quant.json`` (the fake-quant layers). The weights alone cannot say either, so a run writes its
sidecar before the checkpoint's own files (``Hook.before_save``): a checkpoint that reads as complete always
has it (``sidecar_hook.SidecarHook``). Paddle-free: commands read sidecars before anything is built.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slimdet._files import write_text_atomic
from slimdet.errors import SlimdetError


@dataclass(frozen=True)
class Sidecar:
    """One kind of sidecar: its file suffix, the ``format`` name and ``version`` its JSON carries, and how a bad
    one is reported (``error``, naming ``what`` it is and the ``remedy``)."""

    suffix: str
    format: str
    version: int
    what: str
    remedy: str
    error: type[SlimdetError]

    def path(self, checkpoint_path: str | os.PathLike[str]) -> Path:
        """``out/model_final.pdparams`` (or the legacy prefix ``out/model_final``) → ``out/model_final<suffix>``."""
        path = Path(checkpoint_path)
        if path.suffix == ".pdparams":
            path = path.with_suffix("")
        return path.with_name(path.name + self.suffix)

    def save(self, fields: Mapping[str, Any], checkpoint_path: str | os.PathLike[str]) -> Path:
        """Write ``fields`` beside a checkpoint, atomically (a crash never leaves half a file). Returns its path."""
        document = {"format": self.format, "version": self.version, **fields}
        return write_text_atomic(self.path(checkpoint_path), json.dumps(document, indent=2) + "\n")

    def load(self, checkpoint_path: str | os.PathLike[str]) -> dict[str, Any] | None:
        """The fields saved beside a checkpoint, or None when it has no such sidecar; ``error`` when it is not
        one this slimdet reads."""
        path = self.path(checkpoint_path)
        if not path.is_file():
            return None
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            raise self.error(f"cannot read {self.what} {path} ({err}): {self.remedy}") from None
        if not isinstance(document, dict) or document.get("format") != self.format:
            raise self.error(f"{path} is not a slimdet {self.what}: {self.remedy}")
        if document.get("version") != self.version:
            raise self.error(
                f"{path} has {self.what} format version {document.get('version')}, this slimdet reads "
                f"{self.version}: upgrade slimdet"
            )
        return document
