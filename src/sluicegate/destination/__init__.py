"""Destinations: the places a queue's events are persisted to, each through its own consumer
group (docs/destinations.md). ``config`` reads DESTINATIONS_FILE into the registry; ``opening``
makes a destination's writer in a consumer: the SQL repository (kind ``sql``) or a Delta table
(kind ``delta``, ``delta.py``). The layers: worker/ -> destination/ -> repository/."""
