"""Spec text, parsed within bounds: file and text size, nesting depth, no YAML aliases.

``parse_text`` and ``read_spec_file`` turn YAML or JSON into plain data for ``convolab.model.spec``'s
validation; ``check_depth`` bounds data that arrives already parsed (a Python dict). Every refusal is a
``LimitError`` naming the limit; a parser's RecursionError never escapes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from convolab import limits

__all__ = ["check_depth", "parse_text", "read_spec_file"]


def read_spec_file(path: Path) -> Any:
    """The parsed document of a .yaml/.yml/.json spec file, read within ``limits.MAX_SPEC_BYTES``."""
    if not path.is_file():
        raise ValueError(f"spec file {str(path)!r} does not exist")
    try:
        size = path.stat().st_size
        if size > limits.MAX_SPEC_BYTES:
            raise limits.LimitError(too_big_message(f"spec file {str(path)!r}", size))
        with path.open("rb") as f:  # read at most the limit + 1: a file may grow, or be a device
            data = f.read(limits.MAX_SPEC_BYTES + 1)
        if len(data) > limits.MAX_SPEC_BYTES:
            raise limits.LimitError(too_big_message(f"spec file {str(path)!r}", len(data)))
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read spec file {str(path)!r}: {exc}") from None
    return parse_text(text, str(path), json_=path.suffix.lower() == ".json")


def too_big_message(what: str, size: int) -> str:
    return (
        f"{what} is {limits.format_bytes(size)}, over the limit of "
        f"{limits.format_bytes(limits.MAX_SPEC_BYTES)} (limits.MAX_SPEC_BYTES)"
    )


class _SpecLoader(yaml.SafeLoader):
    """PyYAML's safe loader without aliases (no "billion laughs") and with a nesting limit.

    An alias (``*name``) is refused outright: a spec never needs one, and a few hundred bytes of nested
    aliases expand to gigabytes. Depth is counted while composing, before PyYAML's recursive composer
    and constructor can recurse deeply (``limits.MAX_SPEC_DEPTH``).
    """

    _depth = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, f"YAML aliases (*{event.anchor}) are not allowed in a spec", event.start_mark
            )
        self._depth += 1
        try:
            if self._depth > limits.MAX_SPEC_DEPTH:
                raise _TooDeep(self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


class _TooDeep(Exception):
    def __init__(self, mark: Any) -> None:
        super().__init__(_depth_message())
        self.mark = mark


def _depth_message() -> str:
    return f"nested deeper than {limits.MAX_SPEC_DEPTH} levels (limits.MAX_SPEC_DEPTH)"


_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


def _json_depth(text: str) -> int:
    """Deepest nesting of ``[``/``{`` in JSON text, without recursion (strings skipped)."""
    depth = deepest = 0
    for m in re.finditer(r"[\[\]{}]", _JSON_STRING.sub("", text)):
        depth += 1 if m.group() in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def parse_text(text: str, origin: str = "<string>", *, json_: bool | None = None) -> Any:
    """Parse a YAML or JSON document; errors carry the parser's line and column (1-based).

    JSON is used when ``json_`` is True, or when ``json_`` is None and the text starts with ``{``.
    Bounded: at most ``limits.MAX_SPEC_BYTES`` of text, ``limits.MAX_SPEC_DEPTH`` levels of nesting,
    and no YAML aliases.
    """
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > limits.MAX_SPEC_BYTES:
        raise limits.LimitError(too_big_message(f"the spec in {origin}", size))
    try:
        if json_ or (json_ is None and text.lstrip().startswith("{")):
            if _json_depth(text) > limits.MAX_SPEC_DEPTH:
                raise limits.LimitError(f"the JSON in {origin} is {_depth_message()}")
            try:
                return json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(
                    f"malformed JSON in {origin} at line {exc.lineno}, column {exc.colno}: {exc.msg}"
                ) from None
        try:
            return yaml.load(text, Loader=_SpecLoader)  # noqa: S506 - a SafeLoader subclass
        except _TooDeep as exc:
            where = f" (line {exc.mark.line + 1}, column {exc.mark.column + 1})"
            raise limits.LimitError(f"the YAML in {origin} is {_depth_message()}{where}") from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise ValueError(f"malformed YAML in {origin}{where}: {problem}") from None
    except RecursionError:  # a parser's own recursion, despite the checks above
        raise limits.LimitError(f"the spec in {origin} is {_depth_message()}") from None


def check_depth(data: Any, what: str = "the spec") -> None:
    """Refuse data nested deeper than ``limits.MAX_SPEC_DEPTH`` (or cyclic), without recursing."""
    stack = [(data, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, Mapping):
            children: Any = item.values()
        elif isinstance(item, (list, tuple)):
            children = item
        else:
            continue
        if depth > limits.MAX_SPEC_DEPTH:
            raise limits.LimitError(f"{what} is {_depth_message()}")
        stack.extend((child, depth + 1) for child in children)
