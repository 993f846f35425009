"""Training science shared by the services: the RTS RPE chart, estimated maxes and loadable
loads. Pure functions, no I/O (kept apart from ironpath_common, which is plumbing only)."""
