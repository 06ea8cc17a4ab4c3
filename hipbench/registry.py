"""Entry-point discovery of methods, editors and suites.

Built-in methods and suites register through the same entry-point groups a third-party package
would use, so adding one means one module and one line in a pyproject, never a core edit.
Adapter methods (`hipbench.methods`) and knowledge editors (`hipbench.editors`, methods that
change weights directly) share one name space: `--method rome` and `--method lora` are looked up
alike, and a name registered in both groups is refused as ambiguous.
"""
from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

METHODS = "hipbench.methods"
EDITORS = "hipbench.editors"
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
    """Load one registered object; an unknown name fails listing the known ones. The methods
    group answers for editors too (one name space, see the module docstring)."""
    if group == METHODS:
        return method_class(name)
    entries = _entries(group)
    if name not in entries:
        kind = "editor" if group == EDITORS else "suite"
        known = ", ".join(sorted(entries)) or "none"
        raise UnknownNameError(f"unknown {kind} '{name}'; known: {known}")
    return entries[name].load()


def method_kinds() -> dict[str, str]:
    """Every method name with its kind: "adapter" (hipbench.methods) or "editor" (hipbench.editors)."""
    kinds = {name: "adapter" for name in _entries(METHODS)}
    kinds.update({name: "editor" for name in _entries(EDITORS) if name not in kinds})
    return dict(sorted(kinds.items()))


def method_class(name: str) -> type:
    """An adapter method's or an editor's class by name."""
    methods, editors = _entries(METHODS), _entries(EDITORS)
    if name in methods and name in editors:
        raise UnknownNameError(f"method '{name}' is registered both as an adapter method and as an editor")
    if name in methods:
        return methods[name].load()
    if name in editors:
        return editors[name].load()
    known = ", ".join(sorted({*methods, *editors})) or "none"
    raise UnknownNameError(f"unknown method '{name}'; known: {known}")


def suite_spec(name: str) -> Any:
    return load(SUITES, name)
