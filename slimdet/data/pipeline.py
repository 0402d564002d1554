"""From dataset indices to a batch of numpy arrays: sample transforms, batch transforms, collation.

Randomness is derived, never shared: sample ``i`` of epoch ``e`` uses a generator seeded with
(seed, e, i), a batch's own ops (RandomShape) one seeded with (seed, e, rank, batch number), the epoch's
shuffle one seeded with (seed, e). So a batch
is the same whichever process builds it and however many workers there are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from slimdet.data.datasets import DetectionDataset
from slimdet.data.transforms import BatchTransform, MixupImage, PerSample, Sample, SampleTransform
from slimdet.data.transforms.base import BOX_FIELDS
from slimdet.errors import ConfigError

# dtype of each batch field; target0..N are float32 too.
FIELD_DTYPES: dict[str, type] = {
    "image": np.float32,
    "im_size": np.int32,
    "im_id": np.int64,
    "gt_bbox": np.float32,
    "gt_class": np.int32,
    "gt_score": np.float32,
    "is_difficult": np.int32,
}
# Batch field name -> sample key, where they differ (the legacy reader's names).
FIELD_SOURCES = {"is_difficult": "difficult"}

Batch = dict[str, np.ndarray]
_SAMPLE_STREAM, _BATCH_STREAM, _SHUFFLE_STREAM = 0, 1, 2  # keep the three kinds of randomness apart


def sample_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    return np.random.default_rng([seed % 2**63, epoch, _SAMPLE_STREAM, index])


def batch_rng(seed: int, epoch: int, key: Sequence[int]) -> np.random.Generator:
    return np.random.default_rng([seed % 2**63, epoch, _BATCH_STREAM, *key])


def shuffle_rng(seed: int, epoch: int) -> np.random.Generator:
    return np.random.default_rng([seed % 2**63, epoch, _SHUFFLE_STREAM])


@dataclass(frozen=True)
class Pipeline:
    """Everything a worker needs to turn a list of indices into a batch (picklable)."""

    dataset: DetectionDataset
    sample_transforms: tuple[SampleTransform, ...]
    batch_transforms: tuple[BatchTransform, ...]
    fields: tuple[str, ...]
    mixup_epoch: int = -1

    def load_sample(self, index: int, epoch: int, seed: int) -> Sample:
        """Sample ``index`` after the sample transforms (with a mixup partner while epoch < mixup_epoch)."""
        rng = sample_rng(seed, epoch, index)
        sample = self.dataset[index]
        if epoch < self.mixup_epoch and len(self.dataset) > 1 and self.find(MixupImage):
            partner = (index + int(rng.integers(1, len(self.dataset)))) % len(self.dataset)
            sample["mixup"] = self.dataset[partner]
        for transform in self.sample_transforms:
            sample = transform(sample, rng)
        return sample

    def load_samples(self, indices: Sequence[int], epoch: int, seed: int, key: Sequence[int]) -> list[Sample]:
        """The samples of one batch after the batch transforms, not yet stacked."""
        samples = [self.load_sample(int(i), epoch, seed) for i in indices]
        rng = batch_rng(seed, epoch, key)
        for transform in self.batch_transforms:
            samples = transform(samples, rng)
        return samples

    def load_batch(self, indices: Sequence[int], epoch: int, seed: int, key: Sequence[int]) -> Batch:
        return collate(self.load_samples(indices, epoch, seed, key), self.fields)

    def find(self, kind: type) -> list:
        """The transforms of a given class, sample and batch level alike, in pipeline order."""
        found = [t for t in self.sample_transforms if isinstance(t, kind)]
        for t in self.batch_transforms:
            inner = t.transform if isinstance(t, PerSample) else t
            if isinstance(inner, kind):
                found.append(inner)
        return found


def collate(samples: list[Sample], fields: Sequence[str]) -> Batch:
    """Stack each field over the batch, in the contract's dtypes."""
    batch: Batch = {}
    for name in fields:
        key = FIELD_SOURCES.get(name, name)
        missing = [s["im_file"] for s in samples if key not in s]
        if missing:
            raise ConfigError(
                f"the reader's transforms produce no '{name}' (needed by inputs_def.fields), e.g. for {missing[0]}"
            )
        values = [np.asarray(s[key]) for s in samples]
        shapes = {v.shape for v in values}
        if len(shapes) > 1:
            hint = "add PadBox" if key in BOX_FIELDS else "add ResizeImage or RandomShape"
            raise ConfigError(f"'{name}' differs in shape across the batch ({sorted(shapes)}): {hint} so samples stack")
        batch[name] = np.stack(values).astype(FIELD_DTYPES.get(name, np.float32), copy=False)
    return batch
