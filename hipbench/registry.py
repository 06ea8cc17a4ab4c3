"""Entry-point discovery of methods and suites.

Built-in methods and suites register through the same entry-point groups a third-party package
would use, so adding one means one module and one line in a pyproject, never a core edit.
"""
from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

METHODS = "hipbench.methods"
SUITES = "hipbench.suites"


class UnknownNameError(KeyError):
    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


def _entries(group: str) -> dict[str, Any]:
    return {ep.name: ep for ep in entry_points(group=group)}


def available(group: str) -> dict[str, Any | Exception]:
    """Every registered name with its loaded object, or the exception its import raised, so
    one broken plugin is listed as broken without hiding the others."""
    loaded: dict[str, Any | Exception] = {}
    for name, ep in sorted(_entries(group).items()):
        try:
            loaded[name] = ep.load()
        except Exception as error:  # a plugin may fail in any way on import
            loaded[name] = error
    return loaded


def load(group: str, name: str) -> Any:
    """Load one registered object; an unknown name fails listing the known ones."""
    entries = _entries(group)
    if name not in entries:
        kind = "method" if group == METHODS else "suite"
        known = ", ".join(sorted(entries)) or "none"
        raise UnknownNameError(f"unknown {kind} '{name}'; known: {known}")
    return entries[name].load()


def method_class(name: str) -> type:
    return load(METHODS, name)


def suite_spec(name: str) -> Any:
    return load(SUITES, name)
