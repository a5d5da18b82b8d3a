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


def check_worker_settings(settings: config.WorkerSettings) -> None:
    """What the worker's start-up must prove beyond the settings model: the recipe (and the
    mappings it uses) compiles, the ledger's settings hold, and the secret references parse
    (raises ``ConfigError``). No network: secrets are read on first use. Kept apart from
    ``shared.handler`` so the worker validates without importing the HTTP clients, which load
    on the first event."""
    from shared.recipes import load_recipe
    from shared.secrets import Secret

    load_recipe(
        settings.crm_recipe,
        mapping_file=settings.crm_mapping_file,
        gdpr_mapping_file=settings.crm_gdpr_mapping_file,
    )
    for name in (
        "drift_access_token",
        "crm_api_token",
        "crm_signing_secret",
        "crm_oauth_client_secret",
        "crm_oauth_refresh_token",
    ):
        Secret.from_settings(settings, name)
