"""Start the progress service (`python -m progress_svc [migrate | purge]`)."""

from __future__ import annotations

import sys
from pathlib import Path

from ironpath.progress.v1 import progress_pb2_grpc as pb_grpc
from ironpath_common.auth import ServiceTokenIssuer
from ironpath_common.clients import ServiceChannel
from ironpath_common.db import Database, asyncpg_dsn, create_engine, create_sessionmaker
from ironpath_common.interceptors import Auth
from ironpath_common.retention import PurgeRule, RetentionJob, processed_requests_rule
from ironpath_common.server import App, GrpcService, main, sqlalchemy_app
from ironpath_common.settings import RETENTION_REQUEST_DAYS
from progress_svc.clients import ProgramClient
from progress_svc.config import ProgressSettings
from progress_svc.models import applied_events, processed_requests
from progress_svc.servicer import ProgressInternalServicer, ProgressServicer
from progress_svc.watch import ChangeFeed

# Operational records the retention job deletes; progress logs are never purged (archived
# programs keep theirs). An applied-event record only guards against a redelivery, which a
# sender's relay makes within minutes, so it ages out with the request records.
RETENTION = [
    processed_requests_rule(processed_requests),
    PurgeRule("applied_events", applied_events, "applied_at", RETENTION_REQUEST_DAYS),
]


async def build(settings: ProgressSettings) -> App:
    engine = create_engine(settings.database_url, pool_size=settings.db_pool_size, application_name="progress_svc")
    sessions = create_sessionmaker(engine)
    db = Database(engine)
    feed = ChangeFeed(asyncpg_dsn(settings.database_url))
    program_channel = ServiceChannel(settings.program_address, ServiceTokenIssuer(settings.auth, "progress"))
    services = [
        GrpcService(
            "ironpath.progress.v1.ProgressService",
            ProgressServicer(db, feed, ProgramClient(program_channel), keepalive_seconds=settings.keepalive_seconds),
            pb_grpc.add_ProgressServiceServicer_to_server,
            Auth.USER,
        ),
        GrpcService(
            "ironpath.progress.v1.ProgressInternalService",
            ProgressInternalServicer(db),
            pb_grpc.add_ProgressInternalServiceServicer_to_server,
            Auth.SERVICE,
        ),
    ]
    app = sqlalchemy_app(engine, services)
    app.tasks += [feed.run, RetentionJob(sessions, RETENTION, settings.retention).run]
    app.on_stop.append(program_channel.close)
    return app


if __name__ == "__main__":
    main(ProgressSettings.from_env, Path(__file__).parent / "migrations", build, sys.argv, RETENTION)
