"""Data: VOC/COCO/folder datasets, the legacy YOLOv3 transforms, Gt2YoloTarget, loaders, synthetic shapes.

Entry points: ``build_dataset(cfg, split)`` and ``build_loader(cfg, split, ...)`` (cfg shaped like
``Config.to_dict()``), and ``synth.write_synthetic_voc``. Nothing here imports paddle.
"""

from slimdet.data.build import build_dataset, build_loader, build_pipeline
from slimdet.data.datasets import COCODataSet, DetectionDataset, ImageFolder, VOCDataSet
from slimdet.data.loader import BatchSampler, DataLoader
from slimdet.data.pipeline import Batch, Pipeline

__all__ = [
    "Batch",
    "BatchSampler",
    "COCODataSet",
    "DataLoader",
    "DetectionDataset",
    "ImageFolder",
    "Pipeline",
    "VOCDataSet",
    "build_dataset",
    "build_loader",
    "build_pipeline",
]
