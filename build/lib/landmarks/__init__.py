"""Landmarks' shared machinery: datasets on disk (datasets.py), resident data and augmentation (data.py),
tasks (tasks.py), optimizers (optim.py), checkpoints (checkpoint.py), the loop (loop.py), wiring (build.py)."""
