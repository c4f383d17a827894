"""Landmarks' machinery, in rooms (docs/extending.md): engine/ (the loop and its parts, optimizers, schedules,
checkpoints, distributed, FLOPs), tasks/ (one package a task: its data, datasets, pictures and predictor), and
at the top what every run shares: config.py and schema.py (typed configs), registry.py, build.py (config -> task,
model), runs.py (`landmarks.load_run`) and datasets.py (downloads, checksums, UTF-8 text). The model zoo, the
repository's top-level models/ folder, is installed as `landmarks.models`."""


def __getattr__(name: str):
    if name == "load_run":  # imported on first use: `import landmarks.<module>` stays light
        from landmarks.runs import load_run

        return load_run
    raise AttributeError(f"module 'landmarks' has no attribute {name!r}")
