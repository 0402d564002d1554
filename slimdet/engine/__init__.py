"""Training and evaluation: a short loop with hooks, optimizer and LR schedule from the config,
checkpoints that resume exactly, and the inference loop every evaluator is driven by.

Modules: ``optim`` (Momentum + L2, warmup + piecewise LR), ``batches`` (endless batches with a
resumable position), ``trainer`` (the loop), ``hooks`` (checkpoint, eval, progress), ``checkpoint``
(files on disk), ``evaluate`` (inference loop, checkpoint evaluation), ``train`` (config → run).
"""
