"""Batch-1 latency of detectors, timed side by side so that each sees the same machine load."""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence

import numpy as np

from slimdet.deploy.predictor import Detector

WARMUP = 3
REPEATS = 20


def median_latency_ms(
    detectors: Sequence[Detector],
    image: np.ndarray,
    im_size: np.ndarray,
    *,
    warmup: int = WARMUP,
    repeats: int = REPEATS,
) -> list[float]:
    """Median milliseconds per run of each detector on one prepared batch; the detectors take turns run by
    run (a busy neighbour slows all of them alike), after ``warmup`` untimed turns."""
    for _ in range(warmup):
        for detector in detectors:
            detector(image, im_size)
    times: list[list[float]] = [[] for _ in detectors]
    for _ in range(repeats):
        for detector, record in zip(detectors, times):
            start = time.perf_counter()
            detector(image, im_size)
            record.append((time.perf_counter() - start) * 1000)
    return [statistics.median(record) for record in times]
