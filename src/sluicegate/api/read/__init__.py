"""The endpoints that only read: ``probes`` (``/livez``, ``/readyz``, ``/metrics``), ``queues``
(``GET /v1/queues``) and the ``dashboard`` (``/ui``, rendered by ``dashboard_html``)."""
