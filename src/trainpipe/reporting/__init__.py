"""The charts and HTML parts that the data, tuning and evaluation reports share.

* :mod:`~trainpipe.reporting.charts`: the SVG charts (line, scatter, bars, histogram, confusion
  heatmap, grouped bars, image grid), built from :mod:`~trainpipe.reporting.svg` (palette, frame,
  axes) and :mod:`~trainpipe.reporting.axes` (round bounds and tick labels).
* :mod:`~trainpipe.reporting.page`: the page shell with the shared CSS, sections, notes, tables.
* :mod:`~trainpipe.reporting.values`: which values are numbers and how values show as text.

The package depends on nothing in trainpipe but :mod:`trainpipe.errors` and on no third-party
library, so every stage can draw its report without importing another stage.
"""

from __future__ import annotations

from trainpipe.reporting.charts import (
    svg_bar_chart,
    svg_confusion_heatmap,
    svg_grouped_bar_chart,
    svg_histogram,
    svg_image_grid,
    svg_line_chart,
    svg_scatter_chart,
)
from trainpipe.reporting.page import BASE_CSS, Cell, Html, note, page, section, table
from trainpipe.reporting.values import (
    DASH,
    finite_float,
    format_count,
    format_number,
    format_value,
    is_number,
)

__all__ = [
    "BASE_CSS",
    "DASH",
    "Cell",
    "Html",
    "finite_float",
    "format_count",
    "format_number",
    "format_value",
    "is_number",
    "note",
    "page",
    "section",
    "svg_bar_chart",
    "svg_confusion_heatmap",
    "svg_grouped_bar_chart",
    "svg_histogram",
    "svg_image_grid",
    "svg_line_chart",
    "svg_scatter_chart",
    "table",
]
