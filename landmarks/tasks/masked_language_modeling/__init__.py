"""Masked language modelling: BERT's pre-training task (Devlin et al. 2018, Sec. 3.1, Task #1)."""
