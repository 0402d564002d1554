"""Detection metrics: VOC mAP (11point / integral) and COCO mAP (pycocotools, imported on use).

Evaluators follow ``reset / process / evaluate`` (``base.Evaluator``); they return numbers and never
print or write files. pycocotools is only needed once a ``COCOMetric`` is made.
"""

from slimdet.metrics.base import ClassAP, EvalResult, Evaluator, ReportingEvaluator
from slimdet.metrics.coco import COCOMetric
from slimdet.metrics.voc import VOCMetric

__all__ = ["COCOMetric", "ClassAP", "EvalResult", "Evaluator", "ReportingEvaluator", "VOCMetric"]
