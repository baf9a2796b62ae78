"""The OpenAPI document: ``document`` (FastAPI's, completed), ``ingest`` (the ingest operations,
written by hand) and ``models`` (the shapes it describes)."""
