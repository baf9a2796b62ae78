"""Format adapters: each turns a request body into the same ``Event`` objects.

The queue and the workers never learn formats: an adapter checks everything (all-or-nothing),
chooses each event's id and the JSON text stored as its payload, and raises ``ProblemError``
otherwise. ``dispatch.adapter_for`` picks one for ``POST /v1/events/{queue}`` from the
``Content-Type`` (and ``ce-specversion`` for a CloudEvent in binary mode), as the CloudEvents HTTP
binding says.
"""
