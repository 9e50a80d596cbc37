"""``create_app``: the only place the gateway is wired together."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI

from ferry_core.infra import Infrastructure, connect
from ferry_core.observability import instrument, ops_router
from ferry_core.readmodels import ParsedReadModel
from ferry_core.tokens import TokenVerifier, http_jwks_source
from ferry_ingest import apikeys, job_projection, orgs, projection
from ferry_ingest.admin import router as admin_router
from ferry_ingest.analytics_routes import router as analytics_router
from ferry_ingest.analytics_routes import start_analytics
from ferry_ingest.backpressure import QueueGauge
from ferry_ingest.batch_progress import BatchProgressPublisher
from ferry_ingest.batch_routes import router as batch_router
from ferry_ingest.batches import BatchesRepository
from ferry_ingest.console import mount_console
from ferry_ingest.deadletters import DeadLetters, DeadLetterStore
from ferry_ingest.errors import install_error_handlers
from ferry_ingest.files import FilesRepository
from ferry_ingest.idempotency import IdempotencyKeys
from ferry_ingest.job_routes import router as job_router
from ferry_ingest.job_service import JobsService
from ferry_ingest.job_watch import JobWatch
from ferry_ingest.jobs import JobsRepository
from ferry_ingest.outbox import OutboxRelay
from ferry_ingest.presign import Presigner, UrlSigner
from ferry_ingest.presign import router as presign_router
from ferry_ingest.project_routes import router as project_router
from ferry_ingest.projects import ProjectsRepository
from ferry_ingest.quotas import UploadQuotas
from ferry_ingest.routes import router
from ferry_ingest.service import FilesService
from ferry_ingest.settings import IngestSettings
from ferry_ingest.sweeper import Sweeper
from ferry_ingest.tus_routes import router as tus_router
from ferry_ingest.tus_store import TusStore
from ferry_ingest.tus_uploads import TusUploadsRepository
from ferry_ingest.uploads import UploadContext
from ferry_ingest.usage import UsageCounter


def create_app(
    settings: IngestSettings, infra: Infrastructure | None = None, verifier: TokenVerifier | None = None
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        resources = infra or await connect(settings)
        blobs = resources.require_blobs()
        repo = FilesRepository(resources.db)
        await repo.ensure_indexes()
        await repo.adopt_personal_orgs()
        org_store = orgs.OrgStore(resources.db)
        await org_store.ensure_indexes()
        app.state.org_store = org_store
        idempotency = IdempotencyKeys(resources.db)
        await idempotency.ensure_indexes()
        app.state.idempotency = idempotency
        projects = ProjectsRepository(resources.db)
        await projects.ensure_indexes()
        app.state.projects = projects
        batches = BatchesRepository(resources.db)
        await batches.ensure_indexes()
        app.state.batches = batches
        api_keys = apikeys.ApiKeyStore(resources.db)
        await api_keys.ensure_indexes()
        usage = UsageCounter(
            resources.db,
            resources.bus,
            publish_interval=settings.usage_publish_seconds,
            recount_interval=settings.usage_recount_seconds,
        )
        app.state.usage = usage
        app.state.analytics = await start_analytics(resources.db, settings)
        batch_progress = BatchProgressPublisher(batches, resources.bus)
        quotas = UploadQuotas(resources.db, usage, cache_seconds=settings.quota_cache_seconds)
        await quotas.ensure_indexes()
        relay = OutboxRelay(
            repo,
            resources.bus,
            settings.outbox_poll_seconds,
            others=[batches.collection, JobsRepository(resources.db).collection],
            on_file_removed=app.state.analytics.after_removal(usage.uncount),
            # The status projection (made below: it wakes this relay) settles the file's batch.
            on_file_events_sent=lambda file_id, types: status.gateway_events_sent(file_id, types),
        )
        job_records = JobsRepository(resources.db)
        await job_records.ensure_indexes()
        files = FilesService(repo, blobs, ParsedReadModel(resources.db), relay, org_store, job_records)
        watch = JobWatch(settings.job_wait_poll_seconds)
        jobs = JobsService(job_records, files, resources.db, relay, watch)
        app.state.jobs = jobs
        app.state.presigner = Presigner(
            blobs, UrlSigner(settings.presign_secret), timedelta(seconds=settings.presign_ttl_seconds)
        )
        dead_letter_store = DeadLetterStore(resources.db)
        await dead_letter_store.ensure_indexes()
        dead_letters = DeadLetters(dead_letter_store, repo, resources.bus, relay)
        app.state.dead_letters = dead_letters
        app.state.parse_queue = QueueGauge(
            resources.bus,
            settings.parse_queue,
            settings.parse_queue_limit,
            retry_after=settings.backpressure_retry_after_seconds,
        )
        app.state.infra = resources
        app.state.settings = settings
        app.state.verifier = verifier or TokenVerifier(http_jwks_source(settings.auth_url))
        app.state.files = files
        app.state.api_keys = api_keys
        app.state.upload_context = UploadContext(
            repo=repo,
            blobs=blobs,
            bus=resources.bus,
            max_bytes=settings.max_upload_bytes,
            progress_interval=settings.progress_interval_seconds,
            projects=projects,
            batches=batches,
            quotas=quotas,
            usage=usage,
        )
        tus_uploads = TusUploadsRepository(resources.db)
        await tus_uploads.ensure_indexes()
        app.state.tus = TusStore(
            tus_uploads,
            app.state.upload_context,
            org_store,
            part_bytes=settings.tus_part_bytes,
            expiry=timedelta(seconds=settings.tus_expiry_seconds),
            lease=timedelta(seconds=settings.tus_lease_seconds),
        )
        status = projection.StatusProjection(repo, batches, relay.wake, batch_progress, jobs.analyze_when_parsed)
        subscriptions = await projection.subscribe(
            resources.bus,
            status,
            projection.UserCleanup(repo, files.delete),
        )
        subscriptions.append(await apikeys.subscribe(resources.bus, apikeys.ApiKeyProjection(api_keys)))
        subscriptions.append(
            await job_projection.subscribe(
                resources.bus, job_projection.JobProjection(job_records, watch, resources.bus)
            )
        )

        async def forget_org(org_id: str) -> int:
            """A deleted organization's files go as DELETE /files would; its projects and batches with them."""
            deleted = await files.delete_org_files(org_id)
            await projects.delete_of_org(org_id)
            await batches.delete_of_org(org_id)
            return deleted

        subscriptions.append(await orgs.subscribe(resources.bus, orgs.OrgProjection(org_store, forget_org)))
        subscriptions.append(await resources.bus.subscribe_dead_letters(dead_letters.handle))
        sweeper = Sweeper(
            repo,
            blobs,
            resources.db,
            resources.bus,
            relay,
            interval=settings.sweep_interval_seconds,
            stale_upload_seconds=settings.stale_upload_seconds,
            orphan_blob_seconds=settings.orphan_blob_seconds,
            tus=app.state.tus,
        )
        app.state.sweeper = sweeper
        await relay.start()
        await usage.start()
        await sweeper.start()
        app.state.analytics.warm()
        try:
            yield
        finally:
            await app.state.analytics.stop()
            await sweeper.stop()
            await usage.stop()
            await relay.stop()
            for subscription in reversed(subscriptions):
                await subscription.cancel()
            await batch_progress.stop()
            if infra is None:
                await resources.close()

    app = FastAPI(
        title="Ferry files API",
        version="0.1.0",
        description=(
            "Upload files, follow their parsing, and read the parsed content. Authenticate with a bearer "
            "access token from auth, or with an `X-API-Key` made with `POST /auth/api-keys`."
        ),
        lifespan=lifespan,
    )
    instrument(app, "ingest")
    install_error_handlers(app)
    app.include_router(tus_router)  # before the files router, whose /files/{file_id} routes it would otherwise meet
    app.include_router(router)
    app.include_router(job_router)
    app.include_router(presign_router)
    app.include_router(project_router)
    app.include_router(batch_router)
    app.include_router(admin_router)
    app.include_router(analytics_router)
    app.include_router(ops_router(lambda: app.state.infra.readiness()))
    mount_console(app)
    return app
