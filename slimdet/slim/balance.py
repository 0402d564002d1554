"""How much the distillation loss weighs against the detection loss, whatever the input size.

The split distillation terms are means over the output grid, while the YOLOv3 loss sums over the grid
per image. A fixed weight therefore means something else at every input size: the legacy weight 1000,
chosen for 608 px, weighs distillation (608/size)² times more at a smaller input (40× at 96 px), and
differently batch by batch under the legacy multi-scale training (RandomShape 320…608). The default
``input-size`` balance scales the weight by (h·w)/608² of each batch's input, which keeps the ratio of
the two losses independent of the input size and leaves the legacy loss unchanged at 608 px; ``legacy``
applies the weight as it is. Plain Python (no paddle), so the pre-flight checks can name the choices.
"""

from __future__ import annotations

LEGACY_INPUT_SIDE = 608  # the input side the legacy weight was chosen for
BALANCES = ("input-size", "legacy")
DEFAULT_BALANCE = "input-size"


def balanced_weight(weight: float, input_hw: tuple[int, int], balance: str = DEFAULT_BALANCE) -> float:
    """The distillation weight for one batch of ``input_hw`` inputs under ``balance``.

    At 608×608 both balances return ``weight`` itself, so the legacy command line means what it meant.
    """
    if balance == "legacy":
        return weight
    if balance != "input-size":
        raise ValueError(f"unknown distillation balance {balance!r} (choose from {', '.join(BALANCES)})")
    height, width = input_hw
    return weight * (height * width) / (LEGACY_INPUT_SIDE * LEGACY_INPUT_SIDE)
