"""``slimdet params``' core: every persistable of a config's model, its cost, and whether it can be pruned.

The successor of the legacy tools' ``--print_params``: names are exactly what ``--pruned_params``
accepts, and the totals use the legacy model zoo's conventions (docs/legacy.md, "FLOPs and size") next to PaddleSlim's
own FLOPs count, so numbers can be compared with the published tables.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from paddle import nn

from slimdet.config import Config
from slimdet.config.sizes import COARSEST_STRIDE, eval_input_size
from slimdet.errors import SlimdetError, WeightsError
from slimdet.modeling.build import build_model
from slimdet.modeling.layers import ConvBN
from slimdet.slim.flops import count_conv_macs, paddleslim_flops, parameter_mib
from slimdet.slim.plan import FLOATS_PER_MIB, PrunedParam, PruningPlan, load_plan, prunable_convs, resolve_plan


@dataclass(frozen=True)
class ParamRow:
    """One persistable: legacy name, shape, values, the FLOPs share of its conv, prunable or not."""

    name: str
    shape: tuple[int, ...]
    numel: int
    conv: str  # legacy weight name of the conv this tensor belongs to ('' if none)
    flops_share: float  # that conv's share of all conv MACs at the input size
    prunable: bool  # a conv weight PaddleSlim may cut along its output channels

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "shape": list(self.shape),
            "numel": self.numel,
            "conv": self.conv,
            "flops_share": self.flops_share,
            "prunable": self.prunable,
        }


@dataclass(frozen=True)
class ModelTotals:
    """A model's cost in the units the legacy tables and PaddleSlim use."""

    params: int  # every persistable, BN statistics included (the legacy count)
    size_mib: float  # params as float32 MiB
    legacy_gflops: float  # conv MACs / 2^30
    paddleslim_flops: int  # paddleslim.analysis.dygraph_flops: conv MACs + relu/BN elements
    paddleslim_conv_flops: int  # the same with only_conv=True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def reduction_pct(self, after: ModelTotals) -> dict[str, float]:
        """How much smaller ``after`` is, in percent of this, per figure."""
        return {
            key: 100.0 * (value - getattr(after, key)) / value if value else 0.0
            for key, value in self.to_dict().items()
        }


@dataclass(frozen=True)
class ParamsReport:
    """The selected rows, and totals for the whole model (whatever the selection)."""

    input_size: int
    rows: tuple[ParamRow, ...]
    total_params: int  # every persistable, BN statistics included (the legacy count)
    size_mib: float  # total_params as float32 MiB (legacy "MB" minus ≈0.72 MiB of file overhead)
    legacy_gflops: float  # conv MACs / 2^30, the legacy tables' "GFLOPs"
    conv_macs: int
    paddleslim_flops: int  # paddleslim.analysis.dygraph_flops: conv MACs + relu/BN elements
    paddleslim_conv_flops: int  # the same with only_conv=True (equals conv_macs)
    config: str = ""  # the config's name, when built from a file
    config_file: str = ""  # that file (shows when ``-c NAME`` found a shipped config)
    plan: Mapping[str, Any] | None = None  # the pruning plan the model was pruned by (PruningPlan.to_dict())
    before: ModelTotals | None = None  # the unpruned model's totals, when a plan was applied
    pruned: tuple[PrunedParam, ...] = ()  # per listed conv: its filters before → after

    @property
    def after(self) -> ModelTotals:
        """This model's totals (pruned when a plan was applied), comparable with ``before``."""
        return ModelTotals(
            self.total_params, self.size_mib, self.legacy_gflops, self.paddleslim_flops, self.paddleslim_conv_flops
        )

    @property
    def selected_params(self) -> int:
        return sum(row.numel for row in self.rows)

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": self.config,
            "config_file": self.config_file,
            "input_size": self.input_size,
            "plan": dict(self.plan) if self.plan is not None else None,
            "rows": [row.to_dict() for row in self.rows],
            "totals": {
                "params": self.total_params,
                "size_mib": self.size_mib,
                "legacy_gflops": self.legacy_gflops,
                "conv_macs": self.conv_macs,
                "paddleslim_flops": self.paddleslim_flops,
                "paddleslim_conv_flops": self.paddleslim_conv_flops,
                "selected_rows": len(self.rows),
                "selected_params": self.selected_params,
            },
            "before": self.before.to_dict() if self.before is not None else None,
            "reduction_pct": self.before.reduction_pct(self.after) if self.before is not None else None,
            "pruned": [row.to_dict() for row in self.pruned],
        }


@dataclass(frozen=True)
class ParamsRequest:
    """``slimdet params``'s inputs, resolved once at the command line: the merged config, the structure to show
    (the pruning flags and/or the ``.plan.json`` beside a checkpoint, which must agree) and what to list."""

    cfg: Config
    plan: PruningPlan | None = None
    prunable_only: bool = False
    name_filter: str | None = None
    input_size: int | None = None

    @classmethod
    def from_flags(
        cls,
        cfg: Config,
        *,
        pruned_params: str | None = None,
        pruned_ratios: str | None = None,
        weights: str | None = None,
        prunable_only: bool = False,
        name_filter: str | None = None,
        input_size: int | None = None,
    ) -> ParamsRequest:
        """The request as the command line gives it; a bad ``--filter`` or a missing checkpoint is refused here,
        before the model is built (the checkpoint's values are not read, only its plan sidecar)."""
        _compile_filter(name_filter)
        plan = PruningPlan.from_flags(pruned_params, pruned_ratios)
        if weights is not None:
            if "://" not in weights and not (Path(weights).exists() or Path(f"{weights}.pdparams").exists()):
                raise WeightsError(f"--weights {weights} does not exist: give the checkpoint whose plan to show")
            plan = resolve_plan(plan, load_plan(weights))
        return cls(cfg, plan, prunable_only, name_filter, input_size)


def describe_config(request: ParamsRequest) -> ParamsReport:
    """Describe ``request``'s model (pruned by its plan): the ``slimdet params`` call."""
    cfg = request.cfg
    report = describe_parameters(cfg.to_dict(), prunable_only=request.prunable_only, name_filter=request.name_filter,
                                 input_size=request.input_size, plan=request.plan)  # fmt: skip
    return replace(report, config=cfg.name, config_file=str(cfg.path))


def describe_parameters(
    cfg: Mapping[str, Any],
    *,
    prunable_only: bool = False,
    name_filter: str | None = None,
    input_size: int | None = None,
    plan: PruningPlan | None = None,
) -> ParamsReport:
    """Build the model of ``cfg`` (no weights), pruned by ``plan``, and describe its persistables in model order.

    ``name_filter`` is a regex searched in each legacy name; ``input_size`` defaults to the eval size.

    Prunable (PaddleSlim may remove output channels; the names ``--pruned_params`` accepts, decided by
    ``slimdet.slim.plan.prunable_convs`` so that both always agree): the weight of every plain
    convolution (groups = 1). Not prunable:

    * depthwise convs (MobileNet ``*_dw``): each output channel *is* an input channel (groups =
      channels), so their width follows the conv that feeds them; cutting that conv cuts them too;
    * ``yolo_output.*``: their output channels are the detection layout, anchors × (5 + classes);
    * BN tensors and biases: they are cut along with their conv, never on their own.
    """
    pattern = _compile_filter(name_filter)
    size = eval_input_size(cfg) if input_size is None else input_size
    if size <= 0 or size % COARSEST_STRIDE:
        raise SlimdetError(f"input size {size} must be a positive multiple of {COARSEST_STRIDE} (the coarsest stride)")

    model = build_model(cfg, random_init=False)  # counts only
    model.eval()
    before, pruned = None, ()
    if plan is not None:
        mib = parameter_mib(model)
        before = ModelTotals(
            params=round(mib * FLOATS_PER_MIB),
            size_mib=mib,
            legacy_gflops=count_conv_macs(model, size).gflops,
            paddleslim_flops=paddleslim_flops(model, size),
            paddleslim_conv_flops=paddleslim_flops(model, size, only_conv=True),
        )
        pruned = plan.prune(model)
    macs = count_conv_macs(model, size)
    prunable = prunable_convs(model)
    owner = _conv_of_each_tensor(model)
    rows = []
    total = 0
    for tensor in model.state_dict().values():
        numel = int(tensor.size)
        total += numel
        name = tensor.name
        if (prunable_only and name not in prunable) or (pattern and not pattern.search(name)):
            continue
        conv = owner.get(name, "")
        rows.append(
            ParamRow(
                name=name,
                shape=tuple(int(d) for d in tensor.shape),
                numel=numel,
                conv=conv,
                flops_share=macs.share(conv) if conv else 0.0,
                prunable=name in prunable,
            )
        )
    return ParamsReport(
        input_size=size,
        rows=tuple(rows),
        total_params=total,
        size_mib=parameter_mib(model),
        legacy_gflops=macs.gflops,
        conv_macs=macs.total,
        paddleslim_flops=paddleslim_flops(model, size),
        paddleslim_conv_flops=paddleslim_flops(model, size, only_conv=True),
        plan=plan.to_dict() if plan is not None else None,
        before=before,
        pruned=pruned,
    )


def _compile_filter(name_filter: str | None) -> re.Pattern[str] | None:
    if name_filter is None:
        return None
    try:
        return re.compile(name_filter)
    except re.error as err:
        raise SlimdetError(f"--filter {name_filter!r} is not a valid regular expression: {err}") from None


def _conv_of_each_tensor(model: Any) -> dict[str, str]:
    """Map every conv weight, bias and BN tensor name to the name of its conv's weight."""
    owner: dict[str, str] = {}
    for layer in model.sublayers():
        if isinstance(layer, ConvBN):
            for tensor in layer.bn.state_dict().values():
                owner[tensor.name] = layer.conv.weight.name
        elif isinstance(layer, nn.Conv2D):
            for tensor in layer.state_dict().values():
                owner[tensor.name] = layer.weight.name
    return owner
