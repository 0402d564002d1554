"""Build datasets, pipelines and loaders from a config shaped like ``Config.to_dict()``.

The reader sections follow PaddleDetection 0.x: ``TrainReader`` / ``EvalReader`` / ``TestReader`` with
``dataset``, ``sample_transforms``, ``batch_transforms``, ``batch_size``, ``shuffle``, ``drop_last``,
``worker_num``, ``mixup_epoch`` and ``inputs_def.fields``. As in the legacy reader, Gt2YoloTarget is
dropped unless the global ``use_fine_grained_loss`` is true, and gets ``num_classes`` from the global key.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from slimdet.config.defaults import section_with_defaults
from slimdet.config.geometry import YOLOv3Geometry, target_problems
from slimdet.data.datasets import DetectionDataset, dataset_from_entry
from slimdet.data.loader import BatchSampler, DataLoader
from slimdet.data.pipeline import Pipeline
from slimdet.data.transforms import PadBox, build_batch_transform, build_sample_transform
from slimdet.errors import ConfigError, DataError

Split = Literal["train", "eval", "test"]
READERS: dict[str, str] = {"train": "TrainReader", "eval": "EvalReader", "test": "TestReader"}
# Batch fields per split when the reader has no inputs_def.fields (the contract's lists).
DEFAULT_FIELDS: dict[str, tuple[str, ...]] = {
    "train": ("image", "gt_bbox", "gt_class", "gt_score"),
    "eval": ("image", "im_size", "im_id", "gt_bbox", "gt_class", "is_difficult"),
    "test": ("image", "im_size", "im_id"),
}
_BOX_FIELDS = frozenset({"gt_bbox", "gt_class", "gt_score", "is_difficult"})


def reader_config(cfg: Mapping[str, Any], split: str) -> dict[str, Any]:
    """The reader section of a split with its defaults filled in, or a ConfigError naming what is missing."""
    if split not in READERS:
        raise ConfigError(f"unknown split '{split}': use one of {', '.join(READERS)}")
    if not isinstance(cfg.get(READERS[split]), Mapping):
        raise ConfigError(f"the config has no {READERS[split]} section (needed for the {split} data)")
    return section_with_defaults(cfg, READERS[split])


def build_dataset(
    cfg: Mapping[str, Any],
    split: Split,
    *,
    images: Sequence[str | Path] | None = None,
    collect_problems: bool = False,
) -> DetectionDataset:
    """The dataset of ``<Split>Reader.dataset``; training skips images without objects, eval keeps them.

    ``images`` gives the files or folders of an ImageFolder (inference).
    """
    reader = reader_config(cfg, split)
    if "dataset" not in reader:
        raise ConfigError(
            f"{READERS[split]} has no dataset entry (e.g. !VOCDataSet {{dataset_dir: ..., anno_path: ...}})"
        )
    return dataset_from_entry(
        reader["dataset"],
        f"{READERS[split]}.dataset",
        skip_empty=split == "train",
        images=images,
        collect_problems=collect_problems,
    )


def dataset_folder_problems(cfg: Mapping[str, Any], split: Split) -> list[str]:
    """Whether the ``split``'s dataset folder and annotation file exist, checked without reading them: for
    pre-flight checks that must report every problem before anything slow starts."""
    reader = cfg.get(READERS[split])
    entry = reader.get("dataset") if isinstance(reader, Mapping) else None
    if not isinstance(entry, Mapping) or not entry.get("dataset_dir"):
        return []  # nothing to look for here; building the loader says what is missing
    where = f"{READERS[split]}.dataset"
    root = Path(str(entry["dataset_dir"])).expanduser()
    if not root.is_dir():
        return [f"{where}.dataset_dir {root} does not exist: point it at your data (-o {where}.dataset_dir=...)"]
    anno = entry.get("anno_path")
    if anno and not (root / str(anno)).is_file():
        return [f"{where}.anno_path {root / str(anno)} does not exist"]
    return []


def build_pipeline(
    cfg: Mapping[str, Any],
    split: Split,
    *,
    images: Sequence[str | Path] | None = None,
    geometry: YOLOv3Geometry | None = None,
) -> Pipeline:
    """Dataset + transforms + the batch fields of a split, validated before any image is read.

    ``Gt2YoloTarget`` lays its targets out by ``geometry`` (the model's; derived from ``cfg`` when not
    given): a reader that spells out other anchors, masks or strides is a ``ConfigError``.
    """
    reader = reader_config(cfg, split)
    name = READERS[split]
    fine_grained = bool(cfg.get("use_fine_grained_loss"))  # a global: False unless set
    sample_transforms = tuple(
        build_sample_transform(entry, f"{name}.sample_transforms[{i}]")
        for i, entry in enumerate(reader.get("sample_transforms") or [])
    )
    batch_transforms = []
    num_targets = 0
    for i, entry in enumerate(reader.get("batch_transforms") or []):
        if isinstance(entry, Mapping) and entry.get("type") == "Gt2YoloTarget":
            if not fine_grained:
                continue  # the coarse loss computes its targets itself
            _num_classes(cfg)  # the reader's own message when the global key is missing
            geometry = geometry or YOLOv3Geometry.from_config(cfg)
            problems = target_problems(entry, geometry, f"{name}.batch_transforms[{i}] (Gt2YoloTarget)")
            if problems:
                raise ConfigError("; ".join(problems))
            entry = {**entry, **geometry.target_settings()}
            num_targets = len(geometry.anchor_masks)
        batch_transforms.append(build_batch_transform(entry, f"{name}.batch_transforms[{i}]"))

    fields = tuple((reader.get("inputs_def") or {}).get("fields") or DEFAULT_FIELDS[split])
    if split == "train" and fine_grained:
        if not num_targets:
            raise ConfigError(
                "use_fine_grained_loss is true but TrainReader.batch_transforms has no Gt2YoloTarget: "
                "add it (see configs/yolov3_reader.yml) or set use_fine_grained_loss=false"
            )
        fields += tuple(f"target{i}" for i in range(num_targets) if f"target{i}" not in fields)
    pipeline = Pipeline(
        dataset=build_dataset(cfg, split, images=images),
        sample_transforms=sample_transforms,
        batch_transforms=tuple(batch_transforms),
        fields=fields,
        mixup_epoch=int(reader["mixup_epoch"]),
    )
    if _BOX_FIELDS & set(fields) and not pipeline.find(PadBox):
        boxes = sorted(_BOX_FIELDS & set(fields))
        raise ConfigError(f"{name} fields {boxes} need PadBox in its transforms so that boxes stack")
    if split != "test":
        _check_num_classes(cfg, pipeline.dataset)
    return pipeline


def build_loader(
    cfg: Mapping[str, Any],
    split: Split,
    *,
    seed: int = 0,
    rank: int = 0,
    world_size: int = 1,
    workers: int | None = None,
    epoch_start: int = 0,
    images: Sequence[str | Path] | None = None,
    geometry: YOLOv3Geometry | None = None,
) -> DataLoader:
    """A loader for one split (and one rank of ``world_size``); batches are dicts of numpy arrays.

    ``geometry``: the model's, for the training targets (see ``build_pipeline``).

    ``workers`` defaults to the reader's ``worker_num``, capped at the machine's CPU count (the legacy
    configs ask for 8, which would only thrash a small machine; results do not depend on it).
    """
    reader = reader_config(cfg, split)
    pipeline = build_pipeline(cfg, split, images=images, geometry=geometry)
    if workers is None:
        workers = min(int(reader["worker_num"]), os.cpu_count() or 1)
    sampler = BatchSampler(
        num_samples=len(pipeline.dataset),
        batch_size=int(reader["batch_size"]),
        shuffle=bool(reader["shuffle"]),
        drop_last=bool(reader["drop_last"]),
        seed=seed,
        rank=rank,
        world_size=world_size,
    )
    if len(sampler) == 0:
        raise DataError(
            f"{READERS[split]}: {len(pipeline.dataset)} images make no batch of {sampler.batch_size}"
            f"{f' on each of {world_size} ranks' if world_size > 1 else ''} with drop_last: "
            f"lower {READERS[split]}.batch_size or add images"
        )
    return DataLoader(pipeline, sampler, seed=seed, workers=workers, epoch_start=epoch_start)


def _num_classes(cfg: Mapping[str, Any]) -> int:
    if "num_classes" not in cfg:
        raise ConfigError("Gt2YoloTarget needs the global num_classes: add num_classes: N to the config")
    return int(cfg["num_classes"])


def _check_num_classes(cfg: Mapping[str, Any], dataset: DetectionDataset) -> None:
    if "num_classes" not in cfg:
        return
    needed = len(dataset.class_names) + dataset.class_offset
    if int(cfg["num_classes"]) < needed:
        raise ConfigError(
            f"num_classes is {cfg['num_classes']} but the dataset has {len(dataset.class_names)} classes "
            f"({', '.join(dataset.class_names[:5])}{', ...' if len(dataset.class_names) > 5 else ''}): "
            f"set -o num_classes={needed}"
        )
