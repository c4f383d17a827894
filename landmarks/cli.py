"""The module commands' parser (`python -m landmarks.export`, `python -m landmarks.download`): `--help` lists
their arguments, and a bad one ends in one line naming it with the usage, as train.py and eval.py end."""

import argparse


class Parser(argparse.ArgumentParser):
    def error(self, message: str):
        raise SystemExit(f"{self.prog}: {message}; {' '.join(self.format_usage().split())}")
