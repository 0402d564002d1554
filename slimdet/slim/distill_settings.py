"""The distillation flags of ``distill-prune`` as one value: what the loss is, from the command line to the step.

One frozen dataclass instead of five keyword arguments repeated through the CLI, the pre-flight checks, the
command core, the training step and the result. The defaults are the legacy loss (weight 1000 at 608 px),
balanced for the input size; each lever is off at its default. Plain Python (no paddle), so the launching
process can build and check it without loading paddle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from slimdet.errors import did_you_mean
from slimdet.slim.balance import BALANCES, DEFAULT_BALANCE

DEFAULT_DISTILL_WEIGHT = 1000.0  # the legacy distill_pruned_model's, chosen for 608 px input
# split: the legacy split loss (distill_pruned_model, and distill.py with the fine-grained loss); l2: distill.py's
# default, the mean squared difference of the raw head outputs (its VOC models, weight 100).
METHODS = ("split", "l2")


@dataclass(frozen=True)
class DistillSettings:
    """``weight`` of the split loss and how it follows the input size (``balance``, see ``slim.balance``);
    ``temperature`` of the soft targets; ``confidence``, the teacher confidence below which boxes and classes
    are not copied; ``feature``, the weight of the attention-transfer term between the necks (see
    ``slim.distill``)."""

    weight: float = DEFAULT_DISTILL_WEIGHT
    balance: str = DEFAULT_BALANCE
    temperature: float = 1.0
    confidence: float = 0.0
    feature: float = 0.0
    method: str = METHODS[0]

    def problems(self) -> list[str]:
        """What is wrong with these flags, one message each, in the command line's words."""
        problems = []
        if not self.weight >= 0:
            problems.append(f"--distill-weight must be 0 or above (legacy: 1000), got {self.weight:g}")
        if self.balance not in BALANCES:
            problems.append(
                f"unknown distill balance '{self.balance}'{did_you_mean(self.balance, BALANCES)}: "
                f"choose one of {', '.join(BALANCES)}"
            )
        if not self.temperature > 0:
            problems.append(f"--distill-temperature must be above 0 (1: the legacy loss), got {self.temperature:g}")
        if not 0 <= self.confidence < 1:
            problems.append(
                f"--distill-confidence must be in [0, 1) (0: off, the legacy loss), got {self.confidence:g}"
            )
        if not self.feature >= 0:
            problems.append(f"--distill-feature must be 0 or above (0: off, the legacy loss), got {self.feature:g}")
        if self.method not in METHODS:
            problems.append(
                f"unknown distill method '{self.method}'{did_you_mean(self.method, METHODS)}: "
                f"choose one of {', '.join(METHODS)}"
            )
        elif self.method != "split":
            for flag, value, off in (("--distill-temperature", self.temperature, 1.0),
                                     ("--distill-confidence", self.confidence, 0.0)):  # fmt: skip
                if value != off:
                    problems.append(f"{flag} shapes the split loss only: drop it with --distill-method {self.method}")
        return problems

    def describe(self) -> str:
        """One line for a report: the weight and balance, then only the levers that are on."""
        return (
            f"{self.weight:g} ({self.balance} balance)"
            + (f", {self.method} loss" if self.method != "split" else "")
            + (f", temperature {self.temperature:g}" if self.temperature != 1 else "")
            + (f", confidence ≥ {self.confidence:g}" if self.confidence else "")
            + (f", feature weight {self.feature:g}" if self.feature else "")
        )

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` keys (``distill_weight`` …), as the flags are named."""
        return {
            "distill_weight": float(self.weight),
            "distill_balance": self.balance,
            "distill_temperature": float(self.temperature),
            "distill_confidence": float(self.confidence),
            "distill_feature": float(self.feature),
            "distill_method": self.method,
        }
