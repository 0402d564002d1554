"""Typed option aliases shared by commands, so every command spells a flag the same way.

Legacy (PaddleDetection 0.x) and modern spellings sit on one option: ``--pruned_params`` and
``--pruned-params`` both work.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

ConfigOption = Annotated[
    Path,
    typer.Option(
        "--config",
        "-c",
        help="PaddleDetection-style YAML config (_READER_/_BASE_ includes allowed); a shipped one by name "
        "(slimdet config list) when no such file exists here.",
    ),
]
OverrideOption = Annotated[
    list[str] | None,
    typer.Option(
        "--opt",
        "-o",
        help="Config overrides key=value (dotted keys reach sections; values parse as YAML). "
        "Several may follow one -o, and -o may repeat: -o use_fine_grained_loss=true TrainReader.batch_size=4",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document instead of tables.")]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")]
SeedOption = Annotated[int, typer.Option("--seed", help="Seed for python, numpy and paddle.")]
DeviceOption = Annotated[
    str | None,
    typer.Option("--device", help="cpu, gpu or gpu:N (default: from the config's use_gpu, when CUDA is there)."),
]
PrunedParamsOption = Annotated[
    str | None,
    typer.Option(
        "--pruned-params",
        "--pruned_params",
        "-p",
        help="Conv weights to prune, by legacy name, comma- or space-separated "
        "(e.g. 'yolo_block.0.0.0.conv.weights,yolo_block.0.0.1.conv.weights').",
    ),
]
PrunedRatiosOption = Annotated[
    str | None,
    typer.Option(
        "--pruned-ratios",
        "--pruned_ratios",
        help="Share of output channels to remove per pruned param, comma- or space-separated; one value applies to all.",
    ),
]
CriterionOption = Annotated[
    str,
    typer.Option(
        "--criterion",
        "--prune-criterion",
        "--prune_criterion",
        help="Which filters go: l1_norm (smallest L1 norm) or fpgm (closest to the geometric median; "
        "the legacy name geometry_median works too).",
    ),
]
QuantAwareOption = Annotated[
    bool,
    typer.Option(
        "--quant-aware",
        "--quant_aware",
        help="Quantization-aware training (the legacy slim/quantization): fine-tune the trained model of "
        "-o pretrain_weights=W (pruned ones rebuild from their .plan.json) with fake-quant ops; slimdet export "
        "then writes its int8 model.",
    ),
]
NotQuantPatternOption = Annotated[
    str | None,
    typer.Option(
        "--not-quant-pattern",
        "--not_quant_pattern",
        help="With --quant-aware: leave in float the layers whose weight name contains one of these, comma- or "
        "space-separated (default: yolo_output, the head's output convs).",
    ),
]
EvalOption = Annotated[
    bool, typer.Option("--eval", help="Evaluate at every snapshot_iter and keep the best as best_model.")
]
UseVdlOption = Annotated[
    bool,
    typer.Option(
        "--use-vdl",
        "--use_vdl",
        help="Log every loss term (window means), the learning rate, images/s and each evaluation's metrics as "
        "VisualDL scalars by iteration (needs pip install 'slimdet[vdl]'; view: visualdl --logdir DIR).",
    ),
]
VdlLogDirOption = Annotated[
    Path | None,
    typer.Option(
        "--vdl-log-dir",
        "--vdl_log_dir",
        help="The VisualDL log's folder (giving it turns --use-vdl on). A new run starts the log over; --resume "
        "continues it, each iteration once. [default: save_dir/<config>/vdl]",
    ),
]
