"""`ironpath`: the command-line client. It talks to the gateway (Envoy) like any other client."""
