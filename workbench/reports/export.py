"""HTML export of an executed report notebook with nbconvert."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

import nbformat
from nbconvert import HTMLExporter

# nbconvert 7.17 logs this warning when an image output has no alt text. Its default "lab" template
# reads no alt text from output metadata, so every export of a report with figures would log it.
MISSING_ALT_TEXT_MESSAGE = "Alternative text is missing"

#: nbconvert's "lab" template without the scripts it loads from CDNs (require.js, MathJax, mermaid and the
#: widget renderer), so that opening a shared report contacts no other host.
TEMPLATE_NAME = "workbench_offline"
TEMPLATES_DIR = Path(__file__).with_name("templates")


def export_html(executed_notebook: Path, html_path: Path, *, show_code: bool) -> None:
    """Export an executed notebook to a standalone HTML page with nbconvert, loading nothing from the web.

    With ``show_code=False`` the page shows outputs and Markdown cells only, without the ``In [n]:``
    and ``Out[n]:`` prompts. nbconvert's warning that images have no alt text is not logged.
    """
    nb = nbformat.read(executed_notebook, as_version=4)

    hide_code = not show_code
    exporter = HTMLExporter(
        template_name=TEMPLATE_NAME, extra_template_basedirs=[str(TEMPLATES_DIR)],
        exclude_input=hide_code, exclude_input_prompt=hide_code, exclude_output_prompt=hide_code,
    )
    with missing_alt_text_filtered(exporter.log):
        body, _ = exporter.from_notebook_node(nb)

    html_path.write_text(body, encoding="utf-8")


@contextlib.contextmanager
def missing_alt_text_filtered(log: logging.Logger | logging.LoggerAdapter) -> Iterator[None]:
    """Drop nbconvert's missing-alt-text warning from ``log`` while the block runs; keep other records."""
    # traitlets gives an exporter without a parent application the "traitlets" logger, or else the
    # running application's logger, which may be a LoggerAdapter around a Logger.
    target = log.logger if isinstance(log, logging.LoggerAdapter) else log

    def keep(record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(MISSING_ALT_TEXT_MESSAGE)

    target.addFilter(keep)
    try:
        yield
    finally:
        target.removeFilter(keep)
