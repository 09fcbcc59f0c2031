"""The work of the template gear.

Statistics of a text file, written as JSON to the output directory.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

from gear_common.errors import GearInputError

log = logging.getLogger(__name__)

# Runs of letters and digits, joined by apostrophes (' or \u2019) or hyphens: don't, well-known.
WORD = re.compile("[^\\W_]+(?:['\u2019-][^\\W_]+)*")


@dataclass(frozen=True)
class TextStatistics:
    lines: int
    words: int
    characters: int
    top_words: list[tuple[str, int]]


def text_statistics(text: str, *, top_words: int, case_sensitive: bool) -> TextStatistics:
    """Counts lines, words and characters, and the `top_words` most frequent words.

    Ties in frequency are listed alphabetically, so the result does not depend on word order.
    """
    words = WORD.findall(text if case_sensitive else text.lower())
    ranked = sorted(Counter(words).items(), key=lambda item: (-item[1], item[0]))
    return TextStatistics(
        lines=len(text.splitlines()),
        words=len(words),
        characters=len(text),
        top_words=ranked[:top_words],
    )


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise GearInputError(
            f"input file {path} is not UTF-8 text (byte {exc.start} cannot be decoded)"
        ) from None


def run(*, text_file: Path, top_words: int, case_sensitive: bool, output_dir: Path) -> Path:
    """Writes `<input stem>.statistics.json` to `output_dir` and returns its path."""
    statistics = text_statistics(
        read_text(text_file), top_words=top_words, case_sensitive=case_sensitive
    )
    log.info(
        "%s: %d lines, %d words, %d characters",
        text_file.name,
        statistics.lines,
        statistics.words,
        statistics.characters,
    )
    output = output_dir / f"{text_file.stem}.statistics.json"
    payload = {"input": text_file.name, **asdict(statistics)}
    output.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    log.info("Wrote %s", output)
    return output
