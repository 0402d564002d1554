"""``slimdet sensitivity ratios``' core: ``--pruned_params``/``--pruned_ratios`` from a sensitivity file.

The choice itself is ``slim.ratio_choice``; this module reads the file and, for a FLOPs target, builds
the config's model to count with. A loss target needs the file alone: paddle is not imported for it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from slimdet.config import load_config
from slimdet.config.sizes import eval_input_size
from slimdet.errors import SlimdetError
from slimdet.slim.ratio_choice import (
    ConvFlops,
    RatiosResult,
    expected_loss,
    measured_params,
    ratios_by_loss,
    ratios_for_flops,
)
from slimdet.slim.sensitivity_table import SensitivityTable, load_table


def choose_ratios(
    path: str | os.PathLike[str],
    *,
    target_loss: float | None = None,
    target_flops: float | None = None,
    config: str | os.PathLike[str] | None = None,
    overrides: Sequence[str] = (),
) -> RatiosResult:
    """Ratios for a loss threshold or a FLOPs target, from a sensitivity file (for a FLOPs target, ``config``'s model)."""
    if (target_loss is None) == (target_flops is None):
        raise SlimdetError("give exactly one of --target-loss L (e.g. 0.05) and --target-flops R (e.g. 0.5)")
    if target_flops is not None and not 0.0 < target_flops < 1.0:
        raise SlimdetError(
            f"--target-flops is the share of FLOPs to remove, strictly between 0 and 1; got {target_flops:g}"
        )
    if target_flops is not None and config is None:
        raise SlimdetError("--target-flops counts the model's FLOPs: give its config with -c CONFIG")
    table = load_table(path)
    if not measured_params(table):
        raise SlimdetError(f"{path} holds no results yet: run (or resume) `slimdet sensitivity -s {path}` first")
    flops = _conv_flops(table, config, overrides) if config is not None else None
    if target_flops is not None:
        threshold, ratios = ratios_for_flops(table, target_flops, flops.cut)
    else:
        threshold, ratios = target_loss, ratios_by_loss(table, target_loss)
        if not ratios:
            smallest = min(loss for param in measured_params(table) for _, loss in table.losses(param)[:1])
            raise SlimdetError(
                f"no conv stays within loss {target_loss:g} even at its smallest measured ratio (the smallest "
                f"such loss is {smallest:.4g}): raise --target-loss, or measure smaller ratios"
            )
    return RatiosResult(
        target="flops" if target_flops is not None else "loss",
        target_value=target_flops if target_flops is not None else target_loss,
        threshold=threshold,
        ratios=ratios,
        expected_losses={name: expected_loss(table.losses(name), ratio) for name, ratio in ratios.items()},
        not_pruned=tuple(name for name in measured_params(table) if name not in ratios),
        flops_cut=flops.cut(ratios) if flops is not None else None,
        input_size=flops.input_size if flops is not None else None,
        on_pruned_model=bool(table.model.get("plan")),
    )


def _conv_flops(table: SensitivityTable, config: str | os.PathLike[str], overrides: Sequence[str]) -> ConvFlops:
    """The FLOPs counter of the config's model, checked against the model the table measured."""
    data = load_config(Path(config), overrides).to_dict()  # a bad config fails before paddle is imported

    from slimdet.modeling.build import build_model  # paddle: only a FLOPs target needs the model
    from slimdet.slim.plan import PruningPlan

    model = build_model(data, random_init=False)  # FLOPs only
    measured = {key: table.model.get(key) for key in ("architecture", "backbone", "num_classes")}
    built = {
        "architecture": data.get("architecture", "YOLOv3"),
        "backbone": (data.get("YOLOv3") or {}).get("backbone"),
        "num_classes": data.get("num_classes"),
    }
    if built != measured:
        raise SlimdetError(
            f"{config} builds {built}, but the sensitivity file measured {measured}: give the config it was made with"
        )
    if table.model.get("plan"):  # the analysed checkpoint was pruned already: count from its structure
        PruningPlan.from_dict(table.model["plan"]).prune(model)
    unknown = [name for name in measured_params(table) if name not in {p.name for p in model.parameters()}]
    if unknown:
        raise SlimdetError(f"{config}'s model has no {', '.join(unknown)}: give the config the file was made with")
    model.eval()
    return ConvFlops(model, int(table.eval_set.get("input_size") or eval_input_size(data)), criterion=table.criterion)
