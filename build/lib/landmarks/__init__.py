"""Landmarks' shared machinery: datasets on disk (datasets.py), resident data and augmentation (data.py), the
task contract (task.py) and one file per task, optimizers (optim.py), checkpoints (checkpoint.py), the loop
(loop.py), wiring (build.py), trained runs back in other code (runs.py: `landmarks.load_run`). The model zoo,
the repository's top-level models/ folder, is installed as `landmarks.models`."""


def __getattr__(name: str):
    if name == "load_run":  # imported on first use: `import landmarks.<module>` stays light
        from landmarks.runs import load_run

        return load_run
    raise AttributeError(f"module 'landmarks' has no attribute {name!r}")
