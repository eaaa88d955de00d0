"""``__repr__`` of the analysis classes from their constructor parameters (freud-style objects)."""

from __future__ import annotations

import inspect

__all__ = ["parameter_repr"]


def parameter_repr(obj, computed: bool | None = None) -> str:
    """``ClassName(param=value, ...)`` from the parameters of ``type(obj).__init__`` that ``obj``
    stores under the same name; `` (computed)``/`` (not computed)`` when ``computed`` is given.

    Only the instance's own attributes are read, never a result property (those raise before
    ``compute``).
    """
    params = list(inspect.signature(type(obj).__init__).parameters.values())[1:]
    parts = [f"{p.name}={obj.__dict__[p.name]!r}" for p in params
             if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and p.name in obj.__dict__]
    state = "" if computed is None else (" (computed)" if computed else " (not computed)")
    return f"{type(obj).__name__}({', '.join(parts)}){state}"
