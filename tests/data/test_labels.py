"""Class names without the dataset: stated by the reader's entry, recorded beside a checkpoint, or read."""

import pytest

from slimdet.data.datasets.base import VOC_CLASSES
from slimdet.data.labels import class_names_for_model, declared_class_names, labels_path, save_class_names
from slimdet.errors import DataError


def test_a_voc_entry_states_its_names_by_default_label_or_by_its_label_list(synthetic_voc, tmp_path):
    assert declared_class_names({"type": "VOCDataSet", "dataset_dir": str(tmp_path / "gone")}) == list(VOC_CLASSES)
    own = {"type": "VOCDataSet", "dataset_dir": str(synthetic_voc), "use_default_label": False}
    assert declared_class_names(own) == ["circle", "square", "triangle"]
    assert declared_class_names({**own, "dataset_dir": str(tmp_path / "gone")}) is None  # its list is elsewhere
    assert declared_class_names({"type": "COCODataSet", "dataset_dir": str(synthetic_voc)}) is None  # in the json


def test_names_recorded_beside_a_checkpoint_answer_when_the_dataset_is_not_there(tmp_path):
    cfg = {"EvalReader": {"dataset": {"type": "VOCDataSet", "dataset_dir": str(tmp_path / "gone"),
                                      "anno_path": "test.txt", "use_default_label": False}}}  # fmt: skip
    weights = tmp_path / "best_model.pdparams"
    with pytest.raises(DataError, match="best_model.labels.txt is not beside the weights either"):
        class_names_for_model(cfg, "eval", str(weights))
    save_class_names(["cat", "dog"], weights)
    assert labels_path(weights) == labels_path(tmp_path / "best_model") == tmp_path / "best_model.labels.txt"
    assert class_names_for_model(cfg, "eval", str(weights)) == ["cat", "dog"]
    assert class_names_for_model(cfg, "eval", str(tmp_path / "best_model")) == ["cat", "dog"]
