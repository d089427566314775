"""Storage of models, predictions, labels and alerts behind one contract, chosen by URL.

``sqlite:///relative/path.db`` or ``sqlite:////absolute/path.db`` open the embedded store (the
SQLAlchemy convention: three slashes and a relative path, four for an absolute one), and
``sqlite:///:memory:`` an in-memory one for tests.
"""

from __future__ import annotations

from workbench.errors import ConfigError
from workbench.store.base import PREDICTION_COLUMNS, Store
from workbench.store.sqlite import SQLiteStore
from workbench.store.urls import mask_url, url_scheme

SCHEMES = ("sqlite",)


def open_store(url: str) -> Store:
    """Open the store at ``url``.

    Raises
    ------
    ConfigError
        If the URL's scheme is not supported; the message lists the supported schemes.
    """
    scheme = url_scheme(url)
    if scheme == "sqlite":
        prefix = "sqlite:///"
        if not url.startswith(prefix) or len(url) == len(prefix):
            raise ConfigError(
                f"Store URL {mask_url(url)!r} has no database path; use sqlite:///path/to/workbench.db.",
                name="WORKBENCH_STORE_URL", value=mask_url(url),
            )
        return SQLiteStore(url[len(prefix):], url=url)
    raise ConfigError(
        f"Store URL {mask_url(url)!r} has an unsupported scheme {scheme!r}; supported: {', '.join(SCHEMES)}.",
        name="WORKBENCH_STORE_URL", value=mask_url(url),
    )


__all__ = ["PREDICTION_COLUMNS", "SCHEMES", "SQLiteStore", "Store", "mask_url", "open_store"]
