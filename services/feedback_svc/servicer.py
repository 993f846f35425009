"""gRPC transport of the feedback service."""

from __future__ import annotations

from ironpath.feedback.v1 import feedback_pb2_grpc as pb_grpc


class FeedbackServicer(pb_grpc.FeedbackServiceServicer):
    """Feedback, check-ins and readiness: built by the feedback issue; UNIMPLEMENTED until then."""


class FeedbackInternalServicer(pb_grpc.FeedbackInternalServiceServicer):
    """Export and erase for the lifter's-data issue; UNIMPLEMENTED until then."""
