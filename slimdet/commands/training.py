"""A training as ``train`` and ``distill-prune`` (and ``slimdet.api``'s ``train`` and ``distill_prune``) ask
for it, plain or distilled from a teacher: one object, so that the command line and the API take one path.

``TrainingJob.from_flags`` loads the configs and keeps the options, paddle-free: a command about to launch
``--nproc`` processes builds it, reads ``cfg`` (batch, device) and runs ``check`` in a child, then each process
runs ``run``, where the request is resolved (resume point, saved plan) and paddle loads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from slimdet.commands.distill_request import DistillRequest
from slimdet.config import Config, load_config
from slimdet.scalar_log import DEFAULT_DIR_NAME, log_dir

if TYPE_CHECKING:
    from slimdet.commands.distill import DistillResult
    from slimdet.commands.train import TrainRequest, TrainResult


@dataclass(frozen=True)
class TrainingJob:
    """The (student's) config, the plain training's options (``TrainRequest.from_flags``' keywords) and, for a
    distilled one, its ``DistillRequest`` (which holds the same options, with the teacher's)."""

    cfg: Config
    flags: Mapping[str, Any]
    distill: DistillRequest | None = None

    @classmethod
    def from_flags(
        cls,
        config: str | Path,
        *,
        overrides: Sequence[str] = (),
        teacher_config: str | Path | None = None,
        teacher_overrides: Sequence[str] = (),
        teacher_pretrained: str | None = None,
        teacher_backend: str = "auto",
        require_plan: bool = False,
        distill_flags: Mapping[str, Any] | None = None,
        use_vdl: bool = False,
        vdl_log_dir: str | Path | None = None,
        **flags: Any,
    ) -> TrainingJob:
        """The job the options describe: ``flags`` are ``TrainRequest.from_flags``' keywords (pruning options,
        ``resume``, ``seed``, ``eval``); distilled when ``teacher_config`` is given (``overrides`` reach the
        teacher's config too, as in the legacy tool, except those for a section the teacher lacks;
        ``teacher_overrides`` the teacher's only, after them), ``distill_flags`` being ``distill_weight`` …
        ``distill_method`` by name; ``require_plan`` (distill-prune's) demands pruning options. ``use_vdl`` /
        ``vdl_log_dir``: a VisualDL log (default ``save_dir/<config>/vdl``), resolved here for both kinds of run.
        Raises ``ConfigError`` for a config that does not load, ``SlimdetError`` for a log without VisualDL."""
        student_cfg = load_config(config, overrides)
        run_dir = Path(student_cfg.save_dir) / student_cfg.name
        flags = {**flags, "vdl_log_dir": log_dir(use_vdl, vdl_log_dir, run_dir / DEFAULT_DIR_NAME)}
        if teacher_config is None:
            return cls(student_cfg, flags)
        teacher_cfg = load_config(teacher_config, teacher_overrides, shared=overrides)
        request = DistillRequest.from_flags(
            teacher_cfg, distill_flags=distill_flags or {}, teacher_pretrained=teacher_pretrained,
            teacher_backend=teacher_backend, require_plan=require_plan, **flags,
        )  # fmt: skip
        return cls(student_cfg, flags, request)

    def request(self) -> TrainRequest:
        """The plain training's request, resolved (resume point, saved plan): where paddle may load."""
        from slimdet.commands.train import TrainRequest

        return TrainRequest.from_flags(self.cfg, **self.flags)

    def check(self) -> None:
        """Raise one ``SlimdetError`` for what would stop the run before its first step, reading no weights or
        data (a command about to start several processes calls it first, in a child)."""
        if self.distill is not None:
            from slimdet.commands.distill import check_distilled_run

            check_distilled_run(self.cfg, self.distill)
        else:
            from slimdet.commands.train import check_training

            check_training(self.request())

    def run(self, *, device: str | None = None, quiet: bool = False) -> TrainResult | DistillResult:
        """Train in this process (a ``DistillResult`` when distilled); raises ``TrainingInterrupted`` after Ctrl-C
        or SIGTERM, once the checkpoint to resume from is written."""
        if self.distill is not None:
            from slimdet.commands.distill import train_distilled

            return train_distilled(self.cfg, self.distill, device=device, quiet=quiet)
        from slimdet.commands.train import train_from_config

        return train_from_config(self.request(), device=device, quiet=quiet)
