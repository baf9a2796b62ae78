"""Who may post: ``bearer`` (the bearer-token check of a request) with ``tokens`` (the
``API_TOKENS_FILE``), and for webhooks ``webhooks_file`` (the ``WEBHOOKS_FILE``: which queues
take webhooks and their secrets) with ``signatures`` (their checks on the raw body)."""
