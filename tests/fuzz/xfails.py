# ruff: noqa: E501  (one case per line)
"""Cases that still fail on this tree, each with its area and why (issue 12).

Each is ``xfail(strict=True)``: when the fix lands the case passes, the strict xfail fails, and the
line goes. Re-baselined on the merged tree by ``python tests/fuzz/report.py --xfails`` (a full run),
then each reason written out by hand.
"""

XFAIL: dict[str, str] = {}
