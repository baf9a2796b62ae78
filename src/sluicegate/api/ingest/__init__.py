"""Ingest: ``POST /v1/events/{queue}`` and ``POST /v1/webhooks/{queue}``, from the bytes on the
wire to ``Event``s in the queue. ``fast_path`` (the way in past FastAPI), ``route`` (the
endpoints), ``body`` and ``decoding`` (the capped, decompressed body), ``formats/`` (one adapter
per format, all making the same ``Event``s), ``jsontext`` (lossless JSON), ``trace_context``."""
