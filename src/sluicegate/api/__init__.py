"""The ingest API: FastAPI on uvicorn. ``create_app`` builds it, ``serve`` runs it with a drain."""

from sluicegate.api.app import create_app
from sluicegate.api.serving.server import serve

__all__ = ["create_app", "serve"]
