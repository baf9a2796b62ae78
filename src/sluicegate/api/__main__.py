"""``python -m sluicegate.api``: serve the API against ``REDIS_URL`` (tests and the drill)."""

import sys

from sluicegate.api.serving.server import EXIT_CONFIGURATION, serve
from sluicegate.errors import ConfigurationError
from sluicegate.logs import configure_logging, get_logger
from sluicegate.settings import load_settings


def main() -> int:
    try:
        settings = load_settings()
    except ConfigurationError as error:
        configure_logging()
        get_logger().error("api-configuration-error", message=str(error))
        return EXIT_CONFIGURATION
    redis_url = settings.resolved_redis_url
    if redis_url is None:
        configure_logging(settings.log_level, log_format=settings.log_format)
        get_logger().error(
            "api-configuration-error",
            message="set REDIS_URL (or REDIS_HOST); to serve beside a running `sluicegate up` "
            "(which starts the embedded server), use `sluicegate api`",
        )
        return EXIT_CONFIGURATION
    return serve(settings, redis_url)


sys.exit(main())
