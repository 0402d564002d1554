"""run_inference: drives an evaluator over every batch, without gradients, and gives the model back as it was;
build_evaluator: the config's metric for the eval dataset."""

import json

import numpy as np
import paddle
import pytest

from slimdet.engine.evaluate import build_evaluator, run_inference
from tests.engine.toy import ToyModel


class CountingEvaluator:
    """Keeps what it was given, and whether gradients were off while it was fed."""

    def __init__(self):
        self.reset()

    def reset(self):
        self.images = 0
        self.boxes = 0
        self.grad_enabled = []

    def process(self, batch, detections):
        self.images += len(batch["image"])
        self.boxes += int(detections["bbox_num"].sum())
        assert isinstance(detections["bbox"], np.ndarray)
        self.grad_enabled.append(paddle.is_grad_enabled())

    def evaluate(self):
        return {"mAP": self.boxes / max(self.images, 1)}


def eval_batches(count=3, size=2):
    rng = np.random.default_rng(0)
    return [
        {"image": rng.normal(size=(size, 4)).astype("float32"), "im_size": np.full((size, 2), 96, dtype="int32")}
        for _ in range(count)
    ]


def toy_model():
    with paddle.utils.unique_name.guard():
        return ToyModel()


def test_run_inference_feeds_every_batch_without_gradients_and_returns_the_metrics():
    evaluator = CountingEvaluator()
    evaluator.images = 99  # stale state from an earlier run must be reset
    seen = []
    metrics = run_inference(toy_model(), eval_batches(), evaluator, on_batch=seen.append)
    assert metrics == {"mAP": 1.0}
    assert evaluator.images == 6
    assert evaluator.grad_enabled == [False, False, False]
    assert seen == [2, 2, 2]
    assert paddle.is_grad_enabled()


def test_run_inference_restores_each_layers_mode():
    model = toy_model()
    model.train()
    model.norm.eval()  # e.g. frozen statistics: must stay frozen afterwards
    before = model.norm._mean.numpy().copy()
    run_inference(model, eval_batches(), CountingEvaluator())
    assert model.training and model.hidden.training and model.dropout.training
    assert not model.norm.training
    np.testing.assert_array_equal(model.norm._mean.numpy(), before)

    model.eval()
    run_inference(model, eval_batches(), CountingEvaluator())
    assert not model.training


def test_run_inference_restores_the_mode_after_an_error():
    def broken_loader():
        yield from eval_batches(1)
        raise RuntimeError("corrupt image")

    model = toy_model()
    model.train()
    with pytest.raises(RuntimeError, match="corrupt image"):
        run_inference(model, broken_loader(), CountingEvaluator())
    assert model.training
    assert paddle.is_grad_enabled()


class FakeDataset:
    class_names = ["cat", "dog"]
    class_offset = 0
    category_ids = [17, 18]


def test_voc_evaluator_takes_the_dataset_class_names_and_the_map_type():
    evaluator = build_evaluator({"metric": "VOC", "map_type": "integral"}, FakeDataset())
    assert evaluator.class_names == ["cat", "dog"]
    assert evaluator.map_type == "integral"


def test_coco_evaluator_maps_class_ids_to_the_json_category_ids(tmp_path):
    annotations = {
        "images": [{"id": 1, "file_name": "a.jpg", "width": 10, "height": 10}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 18, "bbox": [0, 0, 5, 5], "area": 25, "iscrowd": 0}],
        "categories": [{"id": 17, "name": "cat"}, {"id": 18, "name": "dog"}],
    }
    (tmp_path / "instances.json").write_text(json.dumps(annotations))
    cfg = {
        "metric": "COCO",
        "EvalReader": {"dataset": {"type": "COCODataSet", "dataset_dir": str(tmp_path), "anno_path": "instances.json"}},
    }
    evaluator = build_evaluator(cfg, FakeDataset())
    assert evaluator.clsid2catid == {0: 17, 1: 18}
