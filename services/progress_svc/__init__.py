"""The progress service: one log per planned session, what was lifted, and what it adds up to."""
