"""Running the API: ``server`` (uvicorn, the drain on SIGTERM), ``guard`` (limits against slow and
greedy clients) and ``processes`` (``API_WORKERS``: several API processes on one port)."""
