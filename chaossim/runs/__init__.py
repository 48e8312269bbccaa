"""Runs: the model and data a config describes, run directories, the training loops, evaluation after
training, progress, the long-time analysis and the figures of run directories (docs/architecture.md)."""
