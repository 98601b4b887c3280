"""Errors of the data layer: each says what was tried and what the user can do."""

from __future__ import annotations


def _collapse(attempts: list[tuple[str, str]]) -> list[str]:
    """``url: reason`` items, repeated tries of the same URL with the same outcome shown once (xN)."""
    out: list[str] = []
    counts: dict[tuple[str, str], int] = {}
    for item in attempts:
        counts[item] = counts.get(item, 0) + 1
    for (url, reason), n in counts.items():
        out.append(f"{url}: {reason}" + (f" (x{n})" if n > 1 else ""))
    return out


class DownloadError(OSError):
    """Every mirror failed for one file; ``attempts`` lists ``(url, reason)`` in the order tried."""

    def __init__(self, filename: str, attempts: list[tuple[str, str]], hint: str = "") -> None:
        self.filename = filename
        self.attempts = list(attempts)
        self.hint = hint
        tried = "; ".join(_collapse(attempts)) or "no mirror configured"
        super().__init__(f"could not download {filename} ({tried})" + (f"; fix: {hint}" if hint else ""))

    def __str__(self) -> str:  # OSError.__str__ would prefix an errno
        return self.args[0]


class DatasetNotFoundError(ValueError):
    """A dataset (or one split of it) is not on this machine and could not be downloaded.

    ``str(exc)`` is one line (parts separated by ``; ``) so the CLI can print it as
    ``error: ...``; :meth:`details` gives the same information one item per line.

    Attributes:
        name: the dataset; split: the split asked for.
        tried: ``(place, what happened)`` for every location and URL tried, in order.
        fixes: what the user can do, most direct first.
        note: an extra fact (e.g. "only the test split is here"), or "".
    """

    def __init__(
        self,
        name: str,
        split: str,
        tried: list[tuple[str, str]],
        fixes: list[str],
        note: str = "",
    ) -> None:
        self.name = name
        self.split = split
        self.tried = list(tried)
        self.fixes = list(fixes)
        self.note = note
        super().__init__(self.one_line())

    def headline(self) -> str:
        return f"dataset {self.name!r} (split {self.split!r}) not found"

    def one_line(self) -> str:
        """The whole message on one line."""
        parts = [self.headline()]
        if self.note:
            parts.append(self.note)
        if self.tried:
            parts.append("tried " + ", ".join(f"{place} ({what})" for place, what in self.tried))
        if self.fixes:
            parts.append("fix: " + " | ".join(self.fixes))
        return "; ".join(parts)

    def details(self) -> str:
        """The message with one item per line, for logs and notebooks."""
        lines = [self.headline()]
        if self.note:
            lines.append(self.note)
        lines += ["tried:"] + [f"  {place}: {what}" for place, what in self.tried]
        lines += ["fixes:"] + [f"  - {fix}" for fix in self.fixes]
        return "\n".join(lines)


class ChecksumError(ValueError):
    """A data file exists but its bytes are not the published ones."""
