"""Storage of models, predictions, labels, alerts and A/B experiments behind one contract, chosen by URL.

``sqlite:///relative/path.db`` or ``sqlite:////absolute/path.db`` open the embedded store (the
SQLAlchemy convention: three slashes and a relative path, four for an absolute one), and
``sqlite:///:memory:`` an in-memory one for tests. ``mongodb://host:port/database`` and
``mongodb+srv://host/database`` open the MongoDB store (see :mod:`workbench.store.mongo`), which needs
the ``mongo`` extra: ``pip install 'workbench[mongo]'``.
"""

from __future__ import annotations

from workbench.errors import ConfigError
from workbench.store.base import EXPOSURE_COLUMNS, OUTCOME_COLUMNS, PREDICTION_COLUMNS, Store
from workbench.store.sqlite import SQLiteStore
from workbench.store.urls import mask_url, url_scheme

SCHEMES = ("sqlite", "mongodb", "mongodb+srv")


def open_store(url: str) -> Store:
    """Open the store at ``url``.

    Raises
    ------
    ConfigError
        If the URL's scheme is not supported (the message lists the supported schemes), or the URL needs
        a package that is not installed.
    StoreError
        If the store cannot be opened, such as when its server cannot be reached.
    """
    scheme = url_scheme(url)
    if scheme == "sqlite":
        prefix = "sqlite:///"
        if not url.startswith(prefix) or len(url) == len(prefix):
            # sqlite://name/path would read "name" as a host, so only three or four slashes pass.
            raise ConfigError(
                f"Store URL {mask_url(url)!r} has no database path; use sqlite:///relative/path.db or "
                "sqlite:////absolute/path.db (three or four slashes).",
                name="WORKBENCH_STORE_URL", value=mask_url(url),
            )
        return SQLiteStore(url[len(prefix):], url=url)
    if scheme in ("mongodb", "mongodb+srv"):
        return _open_mongo_store(url)
    raise ConfigError(
        f"Store URL {mask_url(url)!r} has an unsupported scheme {scheme!r}; supported: {', '.join(SCHEMES)}.",
        name="WORKBENCH_STORE_URL", value=mask_url(url),
    )


def _open_mongo_store(url: str) -> Store:
    # Imported here because pymongo is an optional dependency.
    try:
        from workbench.store.mongo import MongoStore
    except ModuleNotFoundError as exc:
        if exc.name not in ("pymongo", "bson"):
            raise
        raise ConfigError(
            "The MongoDB store needs pymongo, which is not installed; install it with "
            "pip install 'workbench[mongo]'.",
            name="WORKBENCH_STORE_URL", value=url_scheme(url),
        ) from None
    return MongoStore(url)


__all__ = [
    "EXPOSURE_COLUMNS",
    "OUTCOME_COLUMNS",
    "PREDICTION_COLUMNS",
    "SCHEMES",
    "SQLiteStore",
    "Store",
    "mask_url",
    "open_store",
]
