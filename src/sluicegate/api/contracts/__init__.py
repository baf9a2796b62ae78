"""Schema contracts per queue (``SCHEMAS_FILE``): ``file`` reads the file (and re-reads it on
``SIGHUP``), ``contract`` is one compiled JSON Schema and what a payload breaks of it, ``gate``
applies the contracts to a request's events (``reject``: 422; ``quarantine``: to the dead letters),
``replay`` decides which dead letters the current contract lets back into a queue."""
