from ironpath_common.db import run_migrations_env
from progress_svc.models import Base

run_migrations_env(Base.metadata)
