"""A Dockerfile's instructions, read by BuildKit's rules (standard library only).

What the Dockerfile reference and BuildKit's parser do, and a line-by-line reading does not:

- parser directives (`# escape=\\`` or `# escape=\\\\`, `# syntax=...`) are read from the
  top of the file until the first line that is not one; `escape` sets the line-continuation
  character;
- an instruction continues over lines ending with the escape character; comment lines and
  empty lines inside a continuation are dropped, not the end of the instruction;
- a here-document (`RUN python3 <<EOF`, `COPY <<-"END" /x`, several in one instruction) is the
  lines after the instruction up to its delimiter (with `<<-`, leading tabs stripped before
  comparing); its lines are the document's content, never instructions.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

_DIRECTIVE = re.compile(r"^\s*#\s*([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(.*?)\s*$")
_COMMENT = re.compile(r"^\s*#")
# A word that starts a here-document, as BuildKit's parser matches it (file descriptor,
# `-` for tab stripping, then the delimiter, quoted or not).
_HEREDOC_WORD = re.compile(r"^(\d*)<<(-?)\s*([^<]*)$")
# The instructions whose here-documents BuildKit reads.
HEREDOC_INSTRUCTIONS = frozenset({"RUN", "COPY", "ADD"})


@dataclass(frozen=True)
class Heredoc:
    name: str
    content: str


@dataclass(frozen=True)
class Instruction:
    """One instruction: keyword upper-cased, arguments with continuations joined."""

    keyword: str
    arguments: str
    line: int
    heredocs: tuple[Heredoc, ...] = ()

    @property
    def heredoc_words(self) -> frozenset[str]:
        """The words of `arguments` that start here-documents (`<<EOF`, `<<-"EOF"`)."""
        return frozenset(w for w in self.arguments.split() if _heredoc_delimiter(w) is not None)


class DockerfileError(ValueError):
    """The Dockerfile cannot be read as Docker would (e.g. an unknown escape character)."""


def escape_character(lines: list[str]) -> str:
    """The `escape` parser directive's character (default backslash)."""
    escape = "\\"
    for line in lines:
        match = _DIRECTIVE.match(line)
        if not match:
            break
        if match.group(1).lower() == "escape":
            value = match.group(2)
            if value not in ("\\", "`"):
                raise DockerfileError(
                    f"the escape directive is {value!r}; Docker accepts only \\ or `"
                )
            escape = value
    return escape


def _heredoc_delimiter(word: str) -> tuple[str, bool] | None:
    """(delimiter, strip leading tabs) when `word` starts a here-document."""
    match = _HEREDOC_WORD.match(word)
    if not match or not match.group(3):
        return None
    name = match.group(3)
    if len(name) >= 2 and name[0] == name[-1] and name[0] in "'\"":
        name = name[1:-1]
    return (name, match.group(2) == "-") if name else None


def instructions(text: str) -> Iterator[Instruction]:
    """The instructions of a Dockerfile, in order."""
    lines = text.splitlines()
    escape = escape_character(lines)
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        if not line.strip() or _COMMENT.match(line):
            continue
        start = index
        logical = ""
        while True:
            stripped = line.rstrip()
            if not stripped.endswith(escape):
                logical += stripped
                break
            logical += stripped[: -len(escape)]
            # The instruction goes on at the next line that is neither empty nor a comment.
            while index < len(lines) and (not lines[index].strip() or _COMMENT.match(lines[index])):
                index += 1
            if index >= len(lines):
                break
            line = lines[index]
            index += 1
        keyword, _, arguments = logical.strip().partition(" ")
        keyword = keyword.upper()
        arguments = arguments.strip()
        heredocs: list[Heredoc] = []
        if keyword in HEREDOC_INSTRUCTIONS:
            for word in arguments.split():
                delimiter = _heredoc_delimiter(word)
                if delimiter is None:
                    continue
                name, strip_tabs = delimiter
                content: list[str] = []
                while index < len(lines):
                    body_line = lines[index]
                    index += 1
                    compared = body_line.lstrip("\t") if strip_tabs else body_line
                    if compared == name:
                        break
                    content.append(compared)
                heredocs.append(Heredoc(name, "".join(f"{c}\n" for c in content)))
        yield Instruction(keyword, arguments, start, tuple(heredocs))
