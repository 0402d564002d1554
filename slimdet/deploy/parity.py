"""Parity: does a deployed model give the same detections as the model it came from?

Detections are compared per image and order-free (Paddle groups rows by class, onnxruntime sorts them
by score, and near-equal scores may come in either order): same count, the same number of boxes per class,
each box within ``box_tol`` pixels of its counterpart and its score within ``score_tol``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from slimdet.deploy.infer_cfg import InferConfig
from slimdet.deploy.predictor import Detections, Detector
from slimdet.deploy.preprocess import Preprocessor

BOX_TOL = 1e-3  # pixels
SCORE_TOL = 1e-5


@dataclass(frozen=True)
class ParityReport:
    """How closely ``candidate`` reproduced ``reference`` on the same inputs."""

    reference: str
    candidate: str
    images: int
    detections: int  # reference rows compared
    count_mismatches: tuple[int, ...]  # image indices whose row counts differ
    class_mismatches: tuple[int, ...]  # image indices whose classes differ (after matching order)
    max_box_diff: float
    max_score_diff: float
    box_tol: float = BOX_TOL
    score_tol: float = SCORE_TOL

    @property
    def ok(self) -> bool:
        return (
            not self.count_mismatches
            and not self.class_mismatches
            and self.max_box_diff <= self.box_tol
            and self.max_score_diff <= self.score_tol
        )

    def to_dict(self) -> dict:
        return {
            **asdict(self),
            "count_mismatches": list(self.count_mismatches),
            "class_mismatches": list(self.class_mismatches),
            "ok": self.ok,
        }


def _match(ref_rows: np.ndarray, cand_rows: np.ndarray) -> tuple[bool, float, float]:
    """Pair rows class by class, each reference row with the nearest unpaired candidate box.

    NMS leaves no two boxes of one class close together, so the nearest box is the counterpart; matching by
    position rather than by rank keeps near-equal scores (ordered differently by each backend) apart.
    Returns (same classes, max box difference, max score difference).
    """
    box_diff = score_diff = 0.0
    for cls in np.unique(ref_rows[:, 0]):
        a, b = ref_rows[ref_rows[:, 0] == cls], cand_rows[cand_rows[:, 0] == cls]
        if len(a) != len(b):
            return False, box_diff, score_diff
        distance = np.abs(a[:, None, 2:] - b[None, :, 2:]).max(axis=2)  # [len(a), len(b)] Chebyshev, pixels
        free = np.ones(len(b), dtype=bool)
        for i in np.argsort(-a[:, 1], kind="stable"):
            j = int(np.argmin(np.where(free, distance[i], np.inf)))
            free[j] = False
            box_diff = max(box_diff, float(distance[i, j]))
            score_diff = max(score_diff, abs(float(a[i, 1] - b[j, 1])))
    return True, box_diff, score_diff


def compare_detections(
    pairs: Iterable[tuple[Detections, Detections]],
    *,
    reference: str,
    candidate: str,
    box_tol: float = BOX_TOL,
    score_tol: float = SCORE_TOL,
) -> ParityReport:
    """Compare (reference, candidate) outputs of the same batches, image by image."""
    index = detections = 0
    count_bad: list[int] = []
    class_bad: list[int] = []
    box_diff = score_diff = 0.0
    for ref, cand in pairs:
        for ref_rows, cand_rows in zip(ref.per_image(), cand.per_image(), strict=True):
            detections += len(ref_rows)
            if len(ref_rows) != len(cand_rows):
                count_bad.append(index)
            elif len(ref_rows):
                same_classes, image_box_diff, image_score_diff = _match(ref_rows, cand_rows)
                if not same_classes:
                    class_bad.append(index)
                box_diff = max(box_diff, image_box_diff)
                score_diff = max(score_diff, image_score_diff)
            index += 1
    return ParityReport(
        reference=reference,
        candidate=candidate,
        images=index,
        detections=detections,
        count_mismatches=tuple(count_bad),
        class_mismatches=tuple(class_bad),
        max_box_diff=box_diff,
        max_score_diff=score_diff,
        box_tol=box_tol,
        score_tol=score_tol,
    )


def check_parity(
    reference: Detector,
    candidate: Detector,
    images: Sequence[Path],
    infer_cfg: InferConfig,
    *,
    box_tol: float = BOX_TOL,
    score_tol: float = SCORE_TOL,
) -> ParityReport:
    """Run both detectors on each image file (prepared as ``infer_cfg`` says) and compare."""

    preprocessor = Preprocessor(infer_cfg.preprocess)

    def outputs() -> Iterable[tuple[Detections, Detections]]:
        for path in images:
            _, batch, im_size = preprocessor.prepare(path)
            yield reference(batch, im_size), candidate(batch, im_size)

    return compare_detections(
        outputs(), reference=reference.name, candidate=candidate.name, box_tol=box_tol, score_tol=score_tol
    )
