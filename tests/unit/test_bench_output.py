"""`make bench` prints its figures, not the EMF lines the in-process functions' metrics print."""

from __future__ import annotations

import contextlib
import io
import json

from bench.__main__ import _WithoutMetricLines


def test_metric_lines_are_dropped_and_everything_else_kept() -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(_WithoutMetricLines(out)):
        print("1. figure")
        print(json.dumps({"_aws": {"CloudWatchMetrics": []}, "Polls": [1.0]}))
        print()
        print("  ratio 0.58", end="")
        print(' {"_aws" stays when it is not a line of its own')
    assert out.getvalue() == '1. figure\n\n  ratio 0.58 {"_aws" stays when it is not a line of its own\n'
