"""Start the program service (`python -m program_svc [migrate]`)."""

from __future__ import annotations

import sys
from pathlib import Path

from ironpath.program.v1 import program_pb2_grpc as pb_grpc
from ironpath_common.db import create_engine, create_sessionmaker
from ironpath_common.interceptors import Auth
from ironpath_common.server import App, GrpcService, main, sqlalchemy_app
from program_svc.config import ProgramSettings
from program_svc.servicer import AccountServicer, ProgramInternalServicer, ProgramServicer


async def build(settings: ProgramSettings) -> App:
    engine = create_engine(settings.database_url, pool_size=settings.db_pool_size, application_name="program_svc")
    sessions = create_sessionmaker(engine)
    services = [
        GrpcService(
            "ironpath.program.v1.ProgramService",
            ProgramServicer(sessions),
            pb_grpc.add_ProgramServiceServicer_to_server,
            Auth.USER,
        ),
        GrpcService(
            "ironpath.program.v1.AccountService",
            AccountServicer(),
            pb_grpc.add_AccountServiceServicer_to_server,
            Auth.USER,
        ),
        GrpcService(
            "ironpath.program.v1.ProgramInternalService",
            ProgramInternalServicer(),
            pb_grpc.add_ProgramInternalServiceServicer_to_server,
            Auth.SERVICE,
        ),
    ]
    return sqlalchemy_app(engine, services)


if __name__ == "__main__":
    settings = ProgramSettings.from_env()
    main(settings, Path(__file__).parent / "migrations", lambda: build(settings), sys.argv)
