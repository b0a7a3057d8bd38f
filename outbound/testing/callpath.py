"""The path a call takes through the package's files, read with ``sys.setprofile``.

``trace(fn, root)`` runs ``fn`` and records every call that crosses from one file under
``root`` into another: the caller's file, the callee's file and the function entered. A file
*revisited* is one entered again from another file after it was entered once before — either
while it is still open below on the stack (``A -> B -> A``) or after its earlier visit
returned (``A -> B``, back in ``A``, ``A -> B`` again). A generator resumed is not entered
again.

Only direct calls count: the calls ``fn`` itself makes, and calls from one file of the package
into another. A function of the package that a library calls back (a SQLAlchemy column
serializer or connection listener) belongs to the library call its caller made, not to the
path. Module bodies run by an import are left out too (a warm process has them done).

Stands alone (``outbound.testing``): it knows files, not layers; the caller names the layers.
"""

from __future__ import annotations

import inspect
import sys
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Step:
    """One call from the file ``caller`` into the file ``callee`` (paths relative to the root's
    parent, e.g. ``outbound/store/outbox.py``); ``caller`` is "" for the first entry."""

    caller: str
    callee: str
    function: str
    #: the callee was entered before (see the module docstring)
    revisit: bool = False
    #: ... and was still open on the stack below the caller (``A -> B -> A``)
    while_open: bool = False


@dataclass
class CallPath:
    """What ``trace`` saw: the steps in order."""

    steps: list[Step] = field(default_factory=list)

    @property
    def files(self) -> list[str]:
        """Each file once, in the order first entered."""
        return list(dict.fromkeys(s.callee for s in self.steps))

    @property
    def revisits(self) -> list[Step]:
        return [s for s in self.steps if s.revisit]


_GENERATORS = inspect.CO_GENERATOR | inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR


def _inside(filename: str, root: str) -> bool:
    return filename.startswith(root)


def trace(fn: Callable[[], T], root: Path) -> tuple[T, CallPath]:
    """Run ``fn`` under a profile hook; the calls between files under ``root``, in order."""
    base = str(root.resolve()) + "/"
    strip = len(str(root.resolve().parent)) + 1
    start = getattr(fn, "__code__", None)
    seen: set[str] = set()
    started: dict[int, types.FrameType] = {}  # generator frames entered (kept: ids stay unique)
    path = CallPath()

    def rel(code: types.CodeType) -> str:
        return code.co_filename[strip:]

    def outer_files(frame: types.FrameType | None) -> set[str]:
        files = set()
        while frame is not None:
            if _inside(frame.f_code.co_filename, base):
                files.add(frame.f_code.co_filename)
            frame = frame.f_back
        return files

    def hook(frame: types.FrameType, event: str, arg: Any) -> None:
        if event != "call":
            return
        code = frame.f_code
        if not _inside(code.co_filename, base) or code.co_name == "<module>":
            return
        if id(frame) in started:
            return  # a generator resumed: its file was entered when it started
        if code.co_flags & _GENERATORS:
            started[id(frame)] = frame
        back = frame.f_back
        if back is not None and back.f_code.co_filename == code.co_filename:
            return  # inside one file
        direct = back is not None and _inside(back.f_code.co_filename, base)
        if not direct and code is not start and (back is None or back.f_code is not start):
            return  # called back by a library (or the traced function's own set-up)
        caller = rel(back.f_code) if direct and back is not None else ""
        revisit = code.co_filename in seen
        while_open = revisit and code.co_filename in outer_files(back)
        seen.add(code.co_filename)
        path.steps.append(Step(caller, rel(code), code.co_name, revisit, while_open))

    previous = sys.getprofile()
    sys.setprofile(hook)
    try:
        result = fn()
    finally:
        sys.setprofile(previous)
        started.clear()
    return result, path
