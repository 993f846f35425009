"""Start the program service (`python -m program_svc [migrate | purge]`)."""

from __future__ import annotations

import sys
from pathlib import Path

from ironpath.program.v1 import program_pb2_grpc as pb_grpc
from ironpath_common.auth import ServiceTokenIssuer
from ironpath_common.clients import ServiceChannel
from ironpath_common.db import Database, create_engine, create_sessionmaker
from ironpath_common.interceptors import Auth
from ironpath_common.outbox import OutboxRelay
from ironpath_common.retention import RetentionJob, outbox_rules, processed_requests_rule
from ironpath_common.server import App, GrpcService, main, sqlalchemy_app
from program_svc.clients import FeedbackClient, ProgressClient
from program_svc.config import ProgramSettings
from program_svc.data_rights import ERASE_FEEDBACK, ERASE_PROGRESS, FORGET_WHEN_DELIVERED, ExportSources
from program_svc.engines import BuiltinEngine
from program_svc.models import outbox, processed_requests
from program_svc.service import INITIALIZE_LOGS
from program_svc.servicer import AccountServicer, ProgramInternalServicer, ProgramServicer

# Operational records the retention job deletes; profiles, programs and grants are never purged.
RETENTION = [processed_requests_rule(processed_requests), *outbox_rules(outbox)]


async def build(settings: ProgramSettings) -> App:
    engine = create_engine(settings.database_url, pool_size=settings.db_pool_size, application_name="program_svc")
    sessions = create_sessionmaker(engine)
    tokens = ServiceTokenIssuer(settings.auth, "program")
    progress_channel = ServiceChannel(settings.progress_address, tokens)
    feedback_channel = ServiceChannel(settings.feedback_address, tokens)
    progress, feedback = ProgressClient(progress_channel), FeedbackClient(feedback_channel)
    relay = OutboxRelay(
        sessions,
        outbox,
        {
            INITIALIZE_LOGS: progress.initialize_program_logs,
            ERASE_PROGRESS: progress.erase_user_data,
            ERASE_FEEDBACK: feedback.erase_user_data,
        },
        forget=FORGET_WHEN_DELIVERED,
    )
    services = [
        GrpcService(
            "ironpath.program.v1.ProgramService",
            ProgramServicer(sessions, settings.gemini or BuiltinEngine(), relay),
            pb_grpc.add_ProgramServiceServicer_to_server,
            Auth.USER,
        ),
        GrpcService(
            "ironpath.program.v1.AccountService",
            AccountServicer(sessions, settings.invite_code_key, relay, ExportSources(progress, feedback)),
            pb_grpc.add_AccountServiceServicer_to_server,
            Auth.USER,
        ),
        GrpcService(
            "ironpath.program.v1.ProgramInternalService",
            ProgramInternalServicer(sessions, Database(engine)),
            pb_grpc.add_ProgramInternalServiceServicer_to_server,
            Auth.SERVICE,
        ),
    ]
    app = sqlalchemy_app(engine, services)
    app.tasks += [relay.run, RetentionJob(sessions, RETENTION, settings.retention).run]
    app.outboxes.append(relay)  # its backlog on the metrics endpoint; its last marks made on stop
    app.on_stop += [progress_channel.close, feedback_channel.close]
    if settings.gemini is not None:
        app.on_stop.append(settings.gemini.aclose)
    return app


if __name__ == "__main__":
    main(ProgramSettings.from_env, Path(__file__).parent / "migrations", build, sys.argv, RETENTION)
