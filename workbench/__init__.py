"""workbench: monitoring, messaging, A/B testing and multi-modality for medical-imaging AI models.

The package adds only a ``NullHandler`` to its logger; applications choose where logs go.
"""

from __future__ import annotations

import logging

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = ["__version__"]
