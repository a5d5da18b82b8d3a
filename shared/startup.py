"""Start-up of a function: settings loaded once, logging configured, one clear line on failure."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TypeVar

from shared import config, logger, secrets
from shared.errors import ConfigError, TransientError

S = TypeVar("S", bound=config.CommonSettings)


def boot(kind: type[S], component: str, check: Callable[[S], object] | None = None) -> S:
    """Load ``kind`` (and run ``check`` on it: mappings, secret references) or stop the
    process with one line naming the bad setting."""
    try:
        settings = config.load(kind)
        if check is not None:
            check(settings)
    except ConfigError as error:
        logger.configure()
        logger.get_logger(component).critical(f"{component} cannot start: {error}")
        sys.stderr.flush()
        raise SystemExit(1) from None
    logger.configure(settings.log_level)
    # Flask (functions-framework) logs exceptions under the function's name: same JSON format.
    logger.adopt(component, expected=(TransientError,))
    secrets.configure_client(settings.secret_manager_endpoint)
    return settings
