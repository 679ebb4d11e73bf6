"""The user's own code: shipping it (a content-addressed archive) and importing from it."""
