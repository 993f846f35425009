"""The feedback service: post-workout feedback and its adjustments, check-ins, readiness."""
