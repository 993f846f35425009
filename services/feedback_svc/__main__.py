"""Start the feedback service (`python -m feedback_svc [migrate]`)."""

from __future__ import annotations

import sys
from pathlib import Path

from feedback_svc.config import FeedbackSettings
from feedback_svc.servicer import FeedbackInternalServicer, FeedbackServicer
from ironpath.feedback.v1 import feedback_pb2_grpc as pb_grpc
from ironpath_common.db import create_engine
from ironpath_common.interceptors import Auth
from ironpath_common.server import App, GrpcService, main, sqlalchemy_app


async def build(settings: FeedbackSettings) -> App:
    engine = create_engine(settings.database_url, pool_size=settings.db_pool_size, application_name="feedback_svc")
    services = [
        GrpcService(
            "ironpath.feedback.v1.FeedbackService",
            FeedbackServicer(),
            pb_grpc.add_FeedbackServiceServicer_to_server,
            Auth.USER,
        ),
        GrpcService(
            "ironpath.feedback.v1.FeedbackInternalService",
            FeedbackInternalServicer(),
            pb_grpc.add_FeedbackInternalServiceServicer_to_server,
            Auth.SERVICE,
        ),
    ]
    return sqlalchemy_app(engine, services)


if __name__ == "__main__":
    main(FeedbackSettings.from_env, Path(__file__).parent / "migrations", build, sys.argv)
