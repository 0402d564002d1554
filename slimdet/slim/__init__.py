"""Pruning plans, the PaddleSlim pruner wrapper, FLOPs counting, sensitivity and distillation."""
