"""``slimdet export``'s core: rebuild a (pruned) checkpoint from its config and export it with ``deploy.export``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from slimdet.config import Config, load_config
from slimdet.data.labels import class_names_for_model
from slimdet.deploy.export import ExportResult, export_model
from slimdet.deploy.predictor import import_onnx_tools
from slimdet.errors import SlimdetError
from slimdet.slim.assemble import build_trained_model
from slimdet.slim.plan import PruningPlan
from slimdet.slim.quant_settings import load_quant


@dataclass(frozen=True)
class ExportRequest:
    """What ``slimdet export`` was asked, worked out once: the merged config (its ``weights`` names the
    checkpoint), the pruning plan the flags give (None: the checkpoint's sidecar alone decides; both must
    agree), the folder the export goes below, and whether to write ``model.onnx`` too."""

    cfg: Config
    plan: PruningPlan | None = None
    output_dir: Path = Path("output")
    onnx: bool = False

    @classmethod
    def from_flags(
        cls,
        config: str | Path,
        overrides: Sequence[str] = (),
        *,
        pruned_params: str | None = None,
        pruned_ratios: str | None = None,
        output_dir: str | Path = Path("output"),
        onnx: bool = False,
    ) -> ExportRequest:
        """The request as the command line gives it: a config path with ``-o`` items, the pruning flags' raw
        strings (see ``PruningPlan.from_flags``)."""
        cfg = load_config(config, overrides)
        return cls(cfg, PruningPlan.from_flags(pruned_params, pruned_ratios), Path(output_dir), onnx)


def export_checkpoint(request: ExportRequest) -> ExportResult:
    """``slimdet export``: rebuild the checkpoint named by the config's ``weights`` and export it to
    ``output_dir/<config name>/``.

    The pruned structure comes from the checkpoint's plan sidecar and/or the pruning flags (which must
    agree); the class names from the EvalReader's label settings, the names recorded beside the weights,
    or (last) its dataset: a machine without the training data can export. A quantization-aware checkpoint
    (``train --quant-aware``) is written as its int8 model, for Paddle Inference.
    """
    cfg, onnx = request.cfg, request.onnx
    data = cfg.to_dict()
    if onnx and load_quant(cfg.weights) is not None:
        raise SlimdetError(
            f"{cfg.weights} is quantization-aware: its int8 model runs on Paddle Inference only (paddle2onnx "
            "keeps its weights float); drop --onnx, or run slimdet quantize --onnx on a float export"
        )
    if onnx:
        import_onnx_tools()  # a missing extra fails before any heavy work
    label_list = class_names_for_model(data, "eval", cfg.weights)
    model, plan = build_trained_model(data, cfg.weights, request.plan)
    return export_model(model, data, plan, request.output_dir / cfg.name, label_list=label_list, onnx=onnx)
