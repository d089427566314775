"""Parsing and masking of store and queue URLs."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def mask_url(url: str) -> str:
    """Return ``url`` with any password replaced by ``***`` so the URL can be printed or logged.

    >>> mask_url("mongodb://reader:s3cret@127.0.0.1:27017/workbench")
    'mongodb://reader:***@127.0.0.1:27017/workbench'
    """
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    netloc = f"{parts.username}:***@{host}" if parts.username else f":***@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def url_scheme(url: str) -> str:
    """Return the scheme of ``url`` in lower case, such as ``"sqlite"``."""
    return urlsplit(url).scheme.lower()
