// The gRPC-Web clients: one transport to the Envoy gateway, the lifter's token on every call.

import { Code, ConnectError, createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { FeedbackService } from "./gen/ironpath/feedback/v1/feedback_pb";
import { AccountService, ProgramService } from "./gen/ironpath/program/v1/program_pb";
import { ProgressService } from "./gen/ironpath/progress/v1/progress_pb";
import type { Disposition } from "./queue";

export interface Clients {
  program: Client<typeof ProgramService>;
  account: Client<typeof AccountService>;
  progress: Client<typeof ProgressService>;
  feedback: Client<typeof FeedbackService>;
}

export function makeClients(baseUrl: string, token: () => string | null, onUnauthenticated: () => void): Clients {
  const authorize: Interceptor = (next) => async (request) => {
    const value = token();
    if (value) request.header.set("authorization", `Bearer ${value}`);
    try {
      return await next(request);
    } catch (error) {
      if (isAuthError(error)) onUnauthenticated();
      throw error;
    }
  };
  // Binary gRPC-Web (the services answer JSON-mode gRPC-Web with Unavailable).
  const transport = createGrpcWebTransport({ baseUrl, interceptors: [authorize] });
  return {
    program: createClient(ProgramService, transport),
    account: createClient(AccountService, transport),
    progress: createClient(ProgressService, transport),
    feedback: createClient(FeedbackService, transport),
  };
}

export function codeOf(error: unknown): Code {
  return ConnectError.from(error).code;
}

/** The token was refused: Envoy answers a wrong audience with PermissionDenied. */
export function isAuthError(error: unknown): boolean {
  const code = codeOf(error);
  return code === Code.Unauthenticated || code === Code.PermissionDenied;
}

/** What the offline queue does after a failed send. Offline, a CORS refusal and a stopped gateway
 * all arrive as Unknown ("Failed to fetch"): worth retrying. Internal is a server bug (a dependency
 * that is down is Unavailable), so it is dropped rather than left blocking the queue. */
export function classify(error: unknown): Disposition {
  if (isAuthError(error)) return "auth";
  switch (codeOf(error)) {
    case Code.Unavailable:
    case Code.Unknown:
    case Code.DeadlineExceeded:
    case Code.ResourceExhausted:
    case Code.Canceled:
      return "retry";
    default:
      return "drop";
  }
}

/** A sentence for the lifter; never Envoy's raw upstream text. */
export function describe(error: unknown): string {
  const e = ConnectError.from(error);
  switch (e.code) {
    case Code.Unavailable:
    case Code.Unknown:
      return "Can't reach IronPath right now.";
    case Code.Unauthenticated:
    case Code.PermissionDenied:
      return "Your sign-in was not accepted. Please sign in again.";
    case Code.NotFound:
      return "Not found.";
    case Code.Unimplemented:
      return "Not available yet.";
    case Code.ResourceExhausted:
      return "Too many requests; trying again shortly.";
    case Code.Aborted:
      return "It changed on another device.";
    default:
      return e.rawMessage || "Something went wrong.";
  }
}
