"""A griffe extension for the API reference: the docstrings' reStructuredText idioms, shown as Markdown.

chaossim's docstrings use a few reST constructs that Markdown would print literally:

- roles, :func:`name`, :class:`~pkg.mod.Name`, :meth:, :mod:, :data:, :attr:, :exc:, :obj: -> `name`
  (code; a leading ``~`` keeps the last component, as Sphinx does);
- simple tables, ``=====  =====`` rulers around rows -> the table as a fenced text block, so its columns
  stay aligned;
- a paragraph ending in ``::`` before an indented literal block -> ``:`` (the block, indented after a blank
  line, is already a Markdown code block).

Loaded by mkdocstrings (mkdocs.yml: ``extensions: [docs/griffe_rst.py]``); changes nothing in the package.
"""
from __future__ import annotations

import re

from griffe import Extension

ROLE = re.compile(r":(?:py:)?(?:func|class|meth|mod|data|attr|exc|obj|const):`(~?)([^`]+)`")
LITERAL = re.compile(r"``([^`]+)``")
RULER = re.compile(r"^\s*=+(\s+=+)+\s*$")


def _target(match: re.Match) -> str:
    tilde, target = match.groups()
    target = target.strip()
    return target.rsplit(".", 1)[-1] if tilde else target


def _fence_tables(lines: list[str]) -> list[str]:
    """Wrap each reST simple table (from its first ruler to its last) in a ```text fence."""
    out, i = [], 0
    while i < len(lines):
        if RULER.match(lines[i]):
            rulers = [i]
            j = i + 1
            while j < len(lines) and lines[j].strip():
                if RULER.match(lines[j]):
                    rulers.append(j)
                j += 1
            if len(rulers) >= 2:
                end = rulers[-1]
                indent = len(lines[i]) - len(lines[i].lstrip())
                body = [line[indent:] if line[:indent].strip() == "" else line for line in lines[i:end + 1]]
                out += [" " * indent + "```text", *[" " * indent + b for b in body], " " * indent + "```"]
                i = end + 1
                continue
        out.append(lines[i])
        i += 1
    return out


def rst_to_markdown(text: str) -> str:
    out, fenced = [], False
    for line in _fence_tables(text.split("\n")):
        if line.strip().startswith("```"):
            fenced = not fenced
        elif fenced:  # inside a table: plain text, padded so that the columns stay aligned
            line = ROLE.sub(lambda m: _target(m).ljust(len(m.group(0))), line)
            line = LITERAL.sub(lambda m: m.group(1).ljust(len(m.group(0))), line)
        else:
            line = re.sub(r"(\S)::$", r"\1:", ROLE.sub(lambda m: f"`{_target(m)}`", line))
        out.append(line)
    return "\n".join(out)


class RstToMarkdown(Extension):
    """Rewrites every docstring once, when griffe creates the object."""

    def on_instance(self, *, obj, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = rst_to_markdown(obj.docstring.value)
