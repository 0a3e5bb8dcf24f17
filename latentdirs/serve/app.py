"""The FastAPI application of ``latentdirs serve``: state, routes, access control, error handling, life cycle.

Starting it starts the job runner (which queues again the jobs a previous server left running); stopping
it interrupts running jobs so that they save their checkpoints and stay queued for the next start.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from .. import __version__
from ..directions.discovery import DIRECTIONS_FILE
from ..executors import create
from ..executors.base import Executor
from . import api_jobs, api_models, page
from .auth import install_auth
from .errors import install_handlers
from .jobsdb import JobStore
from .registry import Registry
from .render import Renderer
from .runner import JobRunner
from .settings import ServeSettings


def create_app(settings: ServeSettings, *, executor: Executor | None = None,
               is_stopping: Callable[[], bool] | None = None) -> FastAPI:
    """The application for ``settings`` (jobs run on ``executor``, default the one ``settings`` name);
    ``is_stopping`` tells open event streams that the server is shutting down (uvicorn waits for open
    connections before the application's own shutdown runs)."""
    if executor is None:  # first: a cluster that cannot be reached is an error before anything is written
        executor = create(settings.executor, settings.workers, address=settings.address, cwd=settings.data_dir)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = JobStore(settings.database)

    def job_directions() -> dict[str, Path]:
        found = {}
        for job in store.list(("done",)):
            path = settings.job_dir(job["id"]) / DIRECTIONS_FILE
            if job["command"] == "discover" and path.is_file():
                found[job["id"]] = path
        return found

    def evaluation_of(name: str) -> dict[str, Any] | None:
        return api_models.evaluation_file(name, store.list(("done",)), settings.job_dir)

    registry = Registry(settings.models_dir, settings.uploads_dir, job_directions)
    runner = JobRunner(settings, store, executor, registry)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runner.start()
        try:
            yield
        finally:
            app.state.stopping = True
            await run_in_threadpool(runner.stop)
            store.close()

    app = FastAPI(title="latentdirs", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Direction discovery as a service: edit with directions, run discover / "
                              "evaluate-directions / train-vae jobs, download results.")
    app.state.settings = settings
    app.state.store = store
    app.state.registry = registry
    app.state.renderer = Renderer(registry, settings.device)
    app.state.runner = runner
    app.state.evaluation_of = evaluation_of
    app.state.stopping = False
    app.state.is_stopping = lambda: app.state.stopping or (is_stopping is not None and is_stopping())
    install_handlers(app)
    install_auth(app, settings.token)
    for module in (api_models, api_jobs, page):
        app.include_router(module.router)
    return app
