"""Claims: each landmark's finding as one command (docs/claims.md). A claim is a sweep of ordinary runs over one
knob, launched as train.py launches a run, its figure redrawn from them and a verdict on whether the paper's
finding held here.

    python -m landmarks.claims --list
    python -m landmarks.claims resnet_depth [--quick] [--seeds N] [--out DIR]
"""

from landmarks.claims.claim import CLAIMS, Claim

__all__ = ["CLAIMS", "Claim"]
