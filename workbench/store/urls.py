"""Parsing and masking of store and queue URLs."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def mask_url(url: str) -> str:
    """Return ``url`` with any password replaced by ``***`` so the URL can be printed or logged.

    Works on URLs with several hosts, as MongoDB replica-set URLs have.

    >>> mask_url("mongodb://reader:s3cret@127.0.0.1:27017/workbench")
    'mongodb://reader:***@127.0.0.1:27017/workbench'
    >>> mask_url("mongodb://reader:s3cret@h1:27017,h2:27017/workbench?replicaSet=rs0")
    'mongodb://reader:***@h1:27017,h2:27017/workbench?replicaSet=rs0'
    """
    parts = urlsplit(url)
    credentials, at, hosts = parts.netloc.rpartition("@")
    if not at or ":" not in credentials:
        return url
    user = credentials.split(":", 1)[0]
    return urlunsplit((parts.scheme, f"{user}:***@{hosts}", parts.path, parts.query, parts.fragment))


def url_scheme(url: str) -> str:
    """Return the scheme of ``url`` in lower case, such as ``"sqlite"``."""
    return urlsplit(url).scheme.lower()
