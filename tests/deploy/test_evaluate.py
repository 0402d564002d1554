"""Scoring an exported folder: a model of other classes than the dataset's is refused."""

import dataclasses

import pytest

from slimdet.deploy.evaluate import check_classes
from slimdet.deploy.infer_cfg import InferConfig
from slimdet.errors import ConfigError


def test_a_model_of_other_classes_is_refused():
    from slimdet.data.datasets.base import DetectionDataset

    infer_cfg = InferConfig(input_size=64, preprocess=(), label_list=("cat", "dog"))
    with pytest.raises(ConfigError, match="not the EvalReader's"):
        check_classes(infer_cfg, DetectionDataset([], ["dog", "cat"], with_background=False))
    check_classes(
        dataclasses.replace(infer_cfg, label_list=("dog", "cat")),
        DetectionDataset([], ["dog", "cat"], with_background=False),
    )
