"""`make run` on one machine: PostgreSQL, the services and Envoy under one supervisor."""
