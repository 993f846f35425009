"""Start the feedback service (`python -m feedback_svc [migrate | purge]`)."""

from __future__ import annotations

import sys
from pathlib import Path

from feedback_svc.clients import ProgramClient, ProgressClient
from feedback_svc.config import FeedbackSettings
from feedback_svc.models import applied_events, outbox, processed_requests
from feedback_svc.service import RECORD_FEEDBACK
from feedback_svc.servicer import FeedbackInternalServicer, FeedbackServicer
from ironpath.feedback.v1 import feedback_pb2_grpc as pb_grpc
from ironpath_common.auth import ServiceTokenIssuer
from ironpath_common.clients import ServiceChannel
from ironpath_common.db import Database, create_engine, create_sessionmaker
from ironpath_common.interceptors import Auth
from ironpath_common.outbox import OutboxRelay
from ironpath_common.retention import PurgeRule, RetentionJob, outbox_rules, processed_requests_rule
from ironpath_common.server import App, GrpcService, main, sqlalchemy_app
from ironpath_common.settings import RETENTION_REQUEST_DAYS

# Operational records the retention job deletes; feedback, check-ins and readiness are never purged.
# An applied erase event only guards against a redelivery, so it ages out with the request records.
RETENTION = [
    processed_requests_rule(processed_requests),
    *outbox_rules(outbox),
    PurgeRule("applied_events", applied_events, "applied_at", RETENTION_REQUEST_DAYS),
]


async def build(settings: FeedbackSettings) -> App:
    engine = create_engine(settings.database_url, pool_size=settings.db_pool_size, application_name="feedback_svc")
    sessions = create_sessionmaker(engine)
    db = Database(engine)
    tokens = ServiceTokenIssuer(settings.auth, "feedback")
    program_channel = ServiceChannel(settings.program_address, tokens)
    progress_channel = ServiceChannel(settings.progress_address, tokens)
    progress = ProgressClient(progress_channel)
    relay = OutboxRelay(sessions, outbox, {RECORD_FEEDBACK: progress.record_session_feedback})
    services = [
        GrpcService(
            "ironpath.feedback.v1.FeedbackService",
            FeedbackServicer(db, ProgramClient(program_channel), progress, relay),
            pb_grpc.add_FeedbackServiceServicer_to_server,
            Auth.USER,
        ),
        GrpcService(
            "ironpath.feedback.v1.FeedbackInternalService",
            FeedbackInternalServicer(db),
            pb_grpc.add_FeedbackInternalServiceServicer_to_server,
            Auth.SERVICE,
        ),
    ]
    app = sqlalchemy_app(engine, services)
    app.tasks += [relay.run, RetentionJob(sessions, RETENTION, settings.retention).run]
    app.outboxes.append(relay)  # its backlog on the metrics endpoint; its last marks made on stop
    app.on_stop += [program_channel.close, progress_channel.close]
    return app


if __name__ == "__main__":
    main(FeedbackSettings.from_env, Path(__file__).parent / "migrations", build, sys.argv, RETENTION)
