"""The tasks, one package each (its task, data, datasets, pictures and predictor), and the one place that names
them: data.task -> the Task subclass, imported when a run uses it. A new task is one package and one line here
(docs/extending.md)."""

import importlib

TASKS = {
    "image_classification": "landmarks.tasks.image_classification.task:ImageClassification",
    "translation": "landmarks.tasks.translation.task:Translation",
    "language_modeling": "landmarks.tasks.language_modeling.task:LanguageModeling",
    "masked_language_modeling": "landmarks.tasks.masked_language_modeling.task:MaskedLanguageModeling",
    "text_classification": "landmarks.tasks.text_classification.task:TextClassification",
    "image_generation": "landmarks.tasks.image_generation.task:ImageGeneration",
}


def task_class(name: str):
    """The Task subclass of `name` (a key of TASKS); a ValueError naming the choices for any other name."""
    if name not in TASKS:
        raise ValueError(f"data.task={name!r}: expected one of {', '.join(TASKS)}")
    module, _, attribute = TASKS[name].partition(":")
    return getattr(importlib.import_module(module), attribute)
