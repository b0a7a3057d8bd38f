"""``outbound`` run inside the test process: what a subprocess of the console script would print
and exit with, without a new interpreter's ~0.5-0.9 s of imports and bootstrap per command.

``run_cli`` calls ``outbound.cli.main()`` (the console script's own function) with the given
arguments, working directory, environment and stdin, and returns the same
``subprocess.CompletedProcess[str]`` a ``subprocess.run(..., capture_output=True, text=True)``
of the script returns. It leaves nothing behind: the working directory, ``os.environ``,
``sys.argv`` and ``sys.std*``, every logger's level, handlers and flags (the CLI's
``configure_logging`` replaces the root handler; pytest's own handlers are put back), the
masking module's level, warning filters and signal handlers are restored; every engine the run
connected is disposed and every app it built closed; the status-event subscriber cache is
emptied before and after. State the runner cannot undo (an OpenTelemetry provider, /metrics
gauges, a thread still running) fails the run loudly: such commands stay real subprocesses.

Keep a real subprocess where the process is what the test proves: ``serve`` and the dialer,
signals, concurrent processes, the console script's own exit codes and tracebacks (one smoke
test per command family), import graphs and anything needing a fresh interpreter.
"""

from __future__ import annotations

import io
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

OUTBOUND = str(Path(sys.executable).with_name("outbound"))

#: commands that run until stopped (or would, if the refusal a test expects regressed): always
#: a real process, with a timeout; ``run_outbound`` sends them there
LONG_RUNNING = frozenset({"serve", "demo", "call"})
_ROOT_OPTIONS_WITH_VALUE = frozenset({"--db", "--config-dir", "--log-format"})

_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGINT", "SIGHUP"))
_one_at_a_time = threading.Lock()  # the process's cwd, environment and std streams are shared


def run_outbound(
    args: Sequence[str | os.PathLike[str]],
    *,
    cwd: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    input: str | None = None,  # subprocess.run's name
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """``outbound *args``: in this process, or as a real process for ``LONG_RUNNING`` ones."""
    if command_of(args) in LONG_RUNNING:
        return run_process(args, cwd=cwd, env=env, input=input, timeout=timeout)
    return run_cli(args, cwd=cwd, env=env, input=input)


def command_of(args: Sequence[str | os.PathLike[str]]) -> str | None:
    """The root command ``args`` name (``serve`` of ``--db X -v serve --role api``)."""
    words = iter(str(a) for a in args)
    for word in words:
        if word in _ROOT_OPTIONS_WITH_VALUE:
            next(words, None)
        elif not word.startswith("-"):
            return word
    return None


def run_cli(
    args: Sequence[str | os.PathLike[str]],
    *,
    cwd: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    input: str | None = None,  # subprocess.run's name
) -> subprocess.CompletedProcess[str]:
    """``outbound *args`` in this process; ``env`` replaces the environment as
    ``subprocess.run(env=...)`` does (None: this process's), ``input`` is stdin (None: empty)."""
    argv = [str(a) for a in args]
    if command_of(argv) in LONG_RUNNING:
        raise ValueError(f"outbound {command_of(argv)} runs until stopped: use run_process")
    stdin = io.TextIOWrapper(io.BytesIO((input or "").encode()), encoding="utf-8")
    out, err = _capture("strict"), _capture("backslashreplace")
    with _one_at_a_time, _restored(), _built_things_closed():
        if cwd is not None:
            os.chdir(cwd)
        if env is not None:
            _replace_environ(env)
            time.tzset()  # a TZ given applies to time.localtime as in a new process
        sys.argv = [OUTBOUND, *argv]
        sys.stdin, sys.stdout, sys.stderr = stdin, out, err
        code = _call_main(argv, err)
        out.flush(), err.flush()
    return subprocess.CompletedProcess([OUTBOUND, *argv], code, _text(out), _text(err))


def run_process(
    args: Sequence[str | os.PathLike[str]],
    *,
    cwd: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    input: str | None = None,  # subprocess.run's name
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """The same run as ``run_cli``, by the installed console script in a process of its own:
    for what the process is the point of (the entry point itself, signals, exit of the
    interpreter)."""
    return subprocess.run(
        [OUTBOUND, *(str(a) for a in args)],
        cwd=cwd,
        env=env,
        input=input or "",
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _capture(errors: str) -> io.TextIOWrapper:
    return io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors=errors, write_through=True)


def _text(stream: io.TextIOWrapper) -> str:
    """Decoded as ``text=True`` decodes a pipe: universal newlines."""
    data = stream.buffer.getvalue().decode("utf-8", errors="replace")  # type: ignore[attr-defined]
    return data.replace("\r\n", "\n").replace("\r", "\n")


def _call_main(argv: list[str], err: io.TextIOWrapper) -> int:
    """``sys.exit(main())`` as the console script does it, the exit turned into a code."""
    from outbound.cli import root

    # click names the program after ``__main__`` (here pytest's): the script's own name instead
    root.cli.main = partial(type(root.cli).main, root.cli, args=argv, prog_name="outbound")  # type: ignore[method-assign]
    try:
        root.main()
        return 0
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or 0
        print(exc.code, file=err)
        return 1
    except Exception:  # an uncaught error: the interpreter prints it and exits 1
        traceback.print_exc(file=err)
        return 1
    finally:
        del root.cli.main


def _replace_environ(env: Mapping[str, str]) -> None:
    os.environ.clear()
    os.environ.update(env)


@contextmanager
def _restored() -> Iterator[None]:
    """Puts back the process-wide state a command changes (module docstring)."""
    from outbound.domain import masking
    from outbound.services.endpoints import events

    cwd, environ, argv = os.getcwd(), dict(os.environ), sys.argv
    streams = sys.stdin, sys.stdout, sys.stderr
    loggers, disabled = _loggers(), logging.root.manager.disable
    root_handlers = logging.root.handlers[:]
    logging.root.handlers.clear()  # basicConfig(force=True) would close pytest's handlers
    level, filters = masking._level, warnings.filters[:]
    handlers = {s: signal.getsignal(s) for s in _SIGNALS}
    events.invalidate()
    try:
        yield
    finally:
        sys.stdin, sys.stdout, sys.stderr = streams
        sys.argv = argv
        os.chdir(cwd)
        _replace_environ(environ)
        time.tzset()  # TZ as it was for time.localtime, too
        _put_back_loggers(loggers, root_handlers)
        logging.disable(disabled)
        masking._level = level
        warnings.filters[:] = filters
        for sig, handler in handlers.items():
            if signal.getsignal(sig) is not handler and handler is not None:
                signal.signal(sig, handler)
        events.invalidate()


_LoggerState = tuple[int, list[logging.Handler], bool, bool]


def _loggers() -> dict[str, _LoggerState]:
    found = {"": logging.root, **logging.root.manager.loggerDict}
    return {
        name: (lg.level, lg.handlers[:], lg.propagate, lg.disabled)
        for name, lg in found.items()
        if isinstance(lg, logging.Logger)
    }


def _put_back_loggers(saved: dict[str, _LoggerState], root_handlers: list[logging.Handler]) -> None:
    """Every logger as it was; one made during the run back to a new logger's defaults; the
    handlers the run added closed."""
    saved[""] = (saved[""][0], root_handlers, True, False)
    kept = {id(h) for state in saved.values() for h in state[1]}
    found = {"": logging.root, **logging.root.manager.loggerDict}
    for name, lg in found.items():
        if not isinstance(lg, logging.Logger):
            continue
        for handler in lg.handlers:
            if id(handler) not in kept:
                handler.close()
        level, handlers, propagate, disabled = saved.get(name, (logging.NOTSET, [], True, False))
        lg.setLevel(level)
        lg.handlers[:] = handlers
        lg.propagate, lg.disabled = propagate, disabled


@contextmanager
def _built_things_closed() -> Iterator[None]:
    """Every engine the run connected disposed, every app it built closed; what cannot be
    undone (a tracer provider, /metrics gauges, a live thread) fails the run."""
    from sqlalchemy import Engine, event

    from outbound.cli.context import Ctx
    from outbound.observability import metrics, tracing

    engines: list[Engine] = []
    contexts: list[Ctx] = []
    original_init = Ctx.__init__

    def recorded_init(self: Ctx, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        contexts.append(self)

    def connected(conn: Any) -> None:
        engines.append(conn.engine)

    provider, watched = tracing._provider, metrics._watched[:]
    threads = set(threading.enumerate())
    event.listen(Engine, "engine_connect", connected)
    Ctx.__init__ = recorded_init  # type: ignore[method-assign]
    try:
        yield
    finally:
        Ctx.__init__ = original_init  # type: ignore[method-assign]
        event.remove(Engine, "engine_connect", connected)
        for ctx in contexts:
            if ctx._app is not None:
                ctx._app.close()
            if ctx._engine is not None:
                ctx._engine.dispose()
        for engine in {id(e): e for e in engines}.values():
            engine.dispose()
        _no_lasting_state(provider is tracing._provider, watched == metrics._watched, threads)


def _no_lasting_state(
    same_provider: bool, same_gauges: bool, threads: set[threading.Thread]
) -> None:
    deadline = time.monotonic() + 10
    for thread in set(threading.enumerate()) - threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    alive = [t.name for t in set(threading.enumerate()) - threads if t.is_alive()]
    problems = [
        "" if same_provider else "it made an OpenTelemetry tracer provider",
        "" if same_gauges else "it registered /metrics gauges",
        f"threads {alive} still run" if alive else "",
    ]
    if any(problems):
        raise AssertionError(
            f"an in-process outbound run left process-wide state: {'; '.join(p for p in problems if p)}"
            " - run this command as a real subprocess"
        )
