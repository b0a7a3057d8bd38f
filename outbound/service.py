"""``outbound serve``: the parts of one node (API, scheduler, workers) started and stopped together."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from outbound.bootstrap import App
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

    def _worker_count(self) -> int:
        if self.role not in ("all", "worker"):
            return 0
        return self.threads or int(self.app.settings.get("worker", "threads"))

    def describe(self) -> str:
        parts = [f"role {self.role}", f"{self._worker_count()} worker threads"]
        if self._serves_api():
            parts.append(f"API on http://{self._host()}:{self._port()}")
        return ", ".join(parts) + f"; database {make_url_safe(self.app.settings.database_url)}"

    def _serves_api(self) -> bool:
        return self.role in ("all", "api") and not self.until_idle

    def _host(self) -> str:
        return self.host or str(self.app.settings.get("api", "host"))

    def _port(self) -> int:
        return self.port or int(self.app.settings.get("api", "port"))

    def run(self) -> None:
        """Start every part, then wait for stop (or, with until_idle, for the workers to finish)."""
        if self.role in ("all", "scheduler"):
            self._scheduler = self.app.scheduler()
            self._scheduler.start()
        poll = float(self.app.settings.get("worker", "poll_seconds"))
        for i in range(self._worker_count()):
            worker = self.app.dispatcher()
            self._start(f"worker-{i}", worker.run, self.stop, poll, self.until_idle)
        if self._serves_api():
            self._start_api()
        waiting_for_workers = self.until_idle and self._threads
        while not self.stop.is_set():
            if waiting_for_workers and not any(t.is_alive() for t in self._threads):
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

        from outbound.api import create_app

        config = uvicorn.Config(
            create_app(self.app),
            host=self._host(),
            port=self._port(),
            log_level="warning",
            access_log=False,
        )
        self._api = uvicorn.Server(config)
        self._start("api", self._api.run)

    def shutdown(self) -> None:
        self.stop.set()
        if self._api is not None:
            self._api.should_exit = True
        for thread in self._threads:
            thread.join(timeout=30)
        if self._scheduler is not None:
            self._scheduler.stop()
