"""``create_app``: the only place the parser is wired together."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from ferry_core.infra import Infrastructure, connect
from ferry_core.observability import instrument, ops_router
from ferry_core.readmodels import ensure_parsed_indexes
from ferry_parser.consumers import subscribe, subscribe_jobs
from ferry_parser.jobs.runner import JobRunner
from ferry_parser.pipeline import FileParser
from ferry_parser.settings import ParserSettings
from ferry_parser.workers import WorkerPool


def create_app(settings: ParserSettings, infra: Infrastructure | None = None) -> FastAPI:
    """The parser's app: no API of its own, only ``/health``, ``/ready`` and ``/metrics``.

    The lifespan starts the pool of parse worker processes and stops it (after
    the subscriptions, so no parse is left waiting for a worker), and the runner
    of analysis and conversion jobs (each job starts a process of its own).

    When ``infra`` is None the lifespan connects (and closes) its own clients;
    when given (embedded mode, tests) the caller owns it.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        current = infra if infra is not None else await connect(settings, with_blobs=True)
        app.state.infra = current
        subscriptions = []
        pool = WorkerPool.from_settings(settings)
        jobs: JobRunner | None = None
        try:
            pool.start()  # the workers import the readers while the rest starts
            app.state.workers = pool
            await ensure_parsed_indexes(current.db)
            parser = FileParser(current, settings, pool)
            app.state.parser = parser
            jobs = JobRunner(current, settings)
            await jobs.start()
            app.state.jobs = jobs
            subscriptions = await subscribe(current.bus, parser, concurrency=settings.parse_concurrency)
            subscriptions += await subscribe_jobs(current.bus, jobs, concurrency=settings.job_concurrency)
            yield
        finally:
            # Stop taking files and jobs; those in hand finish (and are acknowledged) or go back to the queue.
            for subscription in reversed(subscriptions):
                await subscription.cancel(grace=settings.shutdown_grace_seconds)
            if jobs is not None:
                await jobs.close()
            await pool.aclose()
            if infra is None:
                await current.close()

    app = FastAPI(title="Ferry parser", version="0.1.0", lifespan=lifespan)

    async def readiness() -> dict[str, bool]:
        checks: dict[str, bool] = await app.state.infra.readiness()
        return checks

    app.include_router(ops_router(readiness))
    install_error_handlers(app)
    instrument(app, "parser")
    return app


def install_error_handlers(app: FastAPI) -> None:
    """Unexpected errors answer ``{"detail": ...}`` with 500, like every Ferry service."""

    async def internal_error(_: Request, __: Exception) -> JSONResponse:
        return JSONResponse({"detail": "internal server error"}, status_code=500)

    app.add_exception_handler(Exception, internal_error)
