"""Server plumbing shared by the IronPath services: settings, logging, auth, errors,
the server factory and database helpers. Nothing domain-specific lives here."""
