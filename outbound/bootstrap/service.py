"""``outbound serve``: the parts of one node (API, scheduler, workers) started and stopped together."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from typing import Any

from outbound.bootstrap.app import App
from outbound.store.db import make_url_safe


@dataclass
class Service:
    app: App
    role: str = "all"
    threads: int | None = None
    until_idle: bool = False
    host: str | None = None
    port: int | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _api: Any = None
    _scheduler: Any = None
    _dialers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def _worker_count(self) -> int:
        if self.role not in ("all", "worker"):
            return 0
        return self.threads or self.app.settings.worker.threads

    def _dialer_count(self) -> int:
        if self.role not in ("all", "dialer"):
            return 0
        return self.app.settings.voice.dialers

    def describe(self) -> str:
        parts = [
            f"role {self.role}",
            f"{self._worker_count()} worker threads",
            f"{self._dialer_count()} voice dialer processes",
        ]
        if self._serves_api():
            parts.append(f"API on http://{self._host()}:{self._port()}")
        return ", ".join(parts) + f"; database {make_url_safe(self.app.settings.database_url)}"

    def _serves_api(self) -> bool:
        return self.role in ("all", "api") and not self.until_idle

    def _host(self) -> str:
        return self.host or self.app.settings.api.host

    def _port(self) -> int:
        return self.port or self.app.settings.api.port

    def run(self) -> None:
        """Start every part, then wait for stop (or, with until_idle, for the workers to finish)."""
        if self.role in ("all", "scheduler"):
            self._scheduler = self.app.scheduler()
            self._scheduler.start()
        poll = self.app.settings.worker.poll_seconds
        for i in range(self._worker_count()):
            worker = self.app.dispatcher()
            self._start(f"worker-{i}", worker.run, self.stop, poll, self.until_idle)
        if self._serves_api():
            self._start_api()
        self._start_dialers()
        waiting_for_workers = self.until_idle and (self._threads or self._dialers)
        while not self.stop.is_set():
            alive = any(t.is_alive() for t in self._threads) or any(
                d.poll() is None for d in self._dialers
            )
            if waiting_for_workers and not alive:
                break
            if not waiting_for_workers and self.until_idle:
                break
            self.stop.wait(0.5)

    def _start(self, name: str, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=False)
        thread.start()
        self._threads.append(thread)

    def _start_api(self) -> None:
        import uvicorn

        from outbound.api.app import create_app

        config = uvicorn.Config(
            create_app(self.app),
            host=self._host(),
            port=self._port(),
            log_level="warning",
            access_log=False,
        )
        self._api = uvicorn.Server(config)
        self._start("api", self._api.run)

    def _start_dialers(self) -> None:
        """One pjsua2 Endpoint per process (4 calls each): voice scales by dialer processes."""
        settings = self.app.settings
        command = [
            sys.executable,
            "-m",
            "outbound.bootstrap.dialer",
            "--config-dir",
            str(settings.config_dir),
        ]
        if self.until_idle:
            command.append("--until-idle")
        # the URL may hold a password: pass it by environment, never on a visible command line
        env = {**os.environ, "OUTBOUND_DATABASE_URL": settings.database_url}
        self._dialers = [subprocess.Popen(command, env=env) for _ in range(self._dialer_count())]

    def shutdown(self) -> None:
        self.stop.set()
        for dialer in self._dialers:  # SIGTERM: calls are hung up and recorded, then exit
            if dialer.poll() is None:
                dialer.terminate()
        for dialer in self._dialers:
            try:
                dialer.wait(timeout=30)
            except subprocess.TimeoutExpired:
                dialer.kill()
        if self._api is not None:
            self._api.should_exit = True
        for thread in self._threads:
            thread.join(timeout=30)
        if self._scheduler is not None:
            self._scheduler.stop()
