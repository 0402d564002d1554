"""``slimdet params``: the model's persistables by legacy name, their cost and whether they can be pruned."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.table import Table

from slimdet.cli._options import ConfigOption, JsonOption, OverrideOption, PrunedParamsOption, PrunedRatiosOption
from slimdet.cli._render import key_value_table, print_json, stdout_console, table

if TYPE_CHECKING:
    from slimdet.commands.params import ParamsReport


def params_command(
    config: ConfigOption,
    overrides: OverrideOption = None,
    prunable: Annotated[
        bool, typer.Option("--prunable", help="Only conv weights PaddleSlim can prune (what --pruned_params accepts).")
    ] = False,
    name_filter: Annotated[
        str | None, typer.Option("--filter", help="Only names matching this regular expression (searched).")
    ] = None,
    input_size: Annotated[
        int | None,
        typer.Option(
            "--input-size", "--input_size", help="Square input side for FLOPs (default: EvalReader size, 608)."
        ),
    ] = None,
    weights: Annotated[
        str | None,
        typer.Option(
            "--weights", "-w", help="A pruned checkpoint: its .plan.json gives the structure (values are not loaded)."
        ),
    ] = None,
    pruned_params: PrunedParamsOption = None,
    pruned_ratios: PrunedRatiosOption = None,
    as_json: JsonOption = False,
) -> None:
    """List parameters (legacy names, shapes, FLOPs share, prunable) with model totals: the old --print_params.

    "FLOPs %" is the share of all conv multiply-accumulates spent in the conv a tensor belongs to.

    The model is shown pruned by --pruned_params/--pruned_ratios, or by the plan saved beside --weights.
    """
    from slimdet import api

    report = api.params(config, overrides=overrides or (), prunable=prunable, filter=name_filter,
                        input_size=input_size, weights=weights, pruned_params=pruned_params,
                        pruned_ratios=pruned_ratios)  # fmt: skip
    if as_json:
        print_json(report.to_dict())
        return
    out = stdout_console()
    rows = [
        (
            row.name,
            "[" + ",".join(map(str, row.shape)) + "]",
            f"{row.numel:,}",
            f"{100 * row.flops_share:.2f}%" if row.conv else "",
            "yes" if row.prunable else "",
        )
        for row in report.rows
    ]
    title = f"{report.config or 'model'}{' (pruned)' if report.plan else ''} parameters @ {report.input_size} px"
    listing = table(title, ["name", "shape", "values", "FLOPs %", "prunable"], rows)
    # Names must stay copy-pasteable into --pruned_params, also in an 80-column pipe: never cut a cell,
    # and drop the vertical rules so that the widest VOC rows still fit.
    listing.box = box.SIMPLE_HEAD
    for column in listing.columns:
        column.no_wrap = True
        column.min_width = max([len(str(column.header)), *(len(str(cell)) for cell in column.cells)])
    out.print(listing)
    out.print(
        key_value_table(
            "totals (whole model)",
            {
                "rows shown": f"{len(report.rows)} ({report.selected_params:,} values)",
                "parameters": f"{report.total_params:,}",
                "size (float32 MiB, legacy convention)": f"{report.size_mib:.2f}",
                f"GFLOPs @ {report.input_size} (legacy: conv MACs / 2^30)": f"{report.legacy_gflops:.2f}",
                f"FLOPs @ {report.input_size} (PaddleSlim dygraph_flops)": f"{report.paddleslim_flops:,}",
                f"FLOPs @ {report.input_size} (PaddleSlim, only_conv)": f"{report.paddleslim_conv_flops:,}",
            },
        )
    )
    if report.before is not None:
        out.print(_pruning_table(report))
        out.print(
            table(
                f"pruned ({report.plan['criterion'] if report.plan else ''})",
                ["parameter", "ratio", "filters"],
                [
                    (row.name, f"{row.ratio:g}", f"{row.channels_before} → {row.channels_after}")
                    for row in report.pruned
                ],
            )
        )


def _pruning_table(report: ParamsReport) -> Table:
    """The whole model before → after the plan, with the reduction in percent (legacy units first)."""
    before, after, cut = report.before, report.after, report.before.reduction_pct(report.after)
    size = report.input_size
    figures = [
        (f"GFLOPs @ {size} (legacy: conv MACs / 2^30)", "legacy_gflops", "{:.2f}"),
        (f"FLOPs @ {size} (PaddleSlim dygraph_flops)", "paddleslim_flops", "{:,}"),
        (f"FLOPs @ {size} (PaddleSlim, only_conv)", "paddleslim_conv_flops", "{:,}"),
        ("parameters", "params", "{:,}"),
        ("size (float32 MiB)", "size_mib", "{:.2f}"),
    ]
    rows = [
        (label, form.format(getattr(before, key)), form.format(getattr(after, key)), f"-{cut[key]:.2f}%")
        for label, key, form in figures
    ]
    return table("pruning plan: before → after", ["", "before", "after", "reduction"], rows)
