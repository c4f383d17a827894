"""One registry per extension point (tasks, each task's datasets, optimizers, schedules), beside what it
registers: each name is written once, where its code is, and the schema and the error messages read the names
from here. A registry over a package imports every module of that package on first use, so that a new file
there registers itself with no other edit."""

import difflib
import importlib
import pkgutil


class Registry:
    """Names -> things (a builder, a loader, a class), each with an optional config dataclass (the typed schema
    of the keys it reads). `key` is the config key that names an entry, for the error messages."""

    def __init__(self, what: str, key: str, package: str | None = None):
        self.what, self.key, self.package = what, key, package
        self._entries, self._configs, self._loaded = {}, {}, package is None

    def register(self, name: str, config: type | None = None):
        def add(thing):
            if name in self._entries:
                raise ValueError(f"{self.what} {name!r} is registered twice")
            self._entries[name], self._configs[name] = thing, config
            return thing

        return add

    def _load(self) -> None:
        if not self._loaded:
            self._loaded = True
            module = importlib.import_module(self.package)
            for found in pkgutil.iter_modules(module.__path__):
                importlib.import_module(f"{self.package}.{found.name}")

    def names(self) -> list[str]:
        self._load()
        return sorted(self._entries)

    def __contains__(self, name) -> bool:
        return name in self.names()

    def check(self, name) -> None:
        """Raise ValueError naming the choices unless `name` is registered."""
        if name not in self:
            close = difflib.get_close_matches(str(name), self.names(), n=1, cutoff=0.75)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ValueError(f"{self.key}={name!r}: expected one of {', '.join(self.names())}{hint}")

    def __getitem__(self, name: str):
        self.check(name)
        return self._entries[name]

    def config(self, name: str) -> type | None:
        self.check(name)
        return self._configs[name]
