"""A user's package, as ``code:`` ships it: models and losses written against plain torch."""
