from feedback_svc.models import Base
from ironpath_common.db import run_migrations_env

run_migrations_env(Base.metadata)
