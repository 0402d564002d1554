"""Every relative link in the README, docs/ and the CHANGELOG leads somewhere.

The README is short and sends its reader to docs/ pages for the details, and code and messages cite those pages
by section; a moved file or a renamed heading would leave a link that GitHub renders but that leads nowhere. So
each relative link must name an existing file and each `#anchor` (in another Markdown file or the same one) a
heading of that file, spelled as GitHub spells it. Pure text: no paddle, a fraction of a second.
"""

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

CLONE = Path(__file__).resolve().parents[1]
PAGES = [CLONE / "README.md", CLONE / "CHANGELOG.md", *sorted((CLONE / "docs").glob("*.md"))]

FENCE = re.compile(r"^ {0,3}(```|~~~).*?^ {0,3}\1", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"(`+).+?\1", re.DOTALL)
LINK = re.compile(r"\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+(.+?)[ \t#]*$", re.MULTILINE)


def _prose(text: str) -> str:
    """The text without fenced code blocks, where `#` lines are comments and brackets are code."""
    return FENCE.sub("", text)


def anchor(heading: str) -> str:
    """GitHub's anchor for a heading: its rendered text lowercased, every character but letters, digits,
    underscores, hyphens and spaces dropped, spaces turned into hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading counts by its text
    text = re.sub(r"[^\w\- ]", "", text.lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """The anchors of a page's headings; a repeated heading gets -1, -2, … as on GitHub."""
    seen: dict[str, int] = {}
    found = set()
    for heading in HEADING.findall(_prose(page.read_text())):
        base = anchor(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def broken_links(page: Path) -> list[str]:
    """The relative links of `page` that name no file, or an anchor that no heading of the target has."""
    broken = []
    for target in LINK.findall(CODE_SPAN.sub("", _prose(page.read_text()))):
        if re.match(r"[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):  # http:, https:, mailto: …
            continue
        path, _, fragment = unquote(target).partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(f"{page.name}: {target} (no such file)")
        elif fragment and file.suffix == ".md" and fragment not in anchors(file):
            broken.append(f"{page.name}: {target} (no heading #{fragment} in {file.name})")
    return broken


def test_anchors_follow_githubs_rules(tmp_path: Path):
    assert anchor("Does splitting the batch pay?") == "does-splitting-the-batch-pay"
    assert anchor("The rule of `--nproc auto`") == "the-rule-of---nproc-auto"
    assert anchor("slimdet vs PaddleDetection 2.6") == "slimdet-vs-paddledetection-26"
    assert anchor("The demo's size") == "the-demos-size"
    page = tmp_path / "page.md"
    page.write_text("# Notes\n\n## Setup\n\n```bash\n# not a heading\n```\n\n## Setup\n\n### Setup ##\n")
    assert anchors(page) == {"notes", "setup", "setup-1", "setup-2"}


def test_a_broken_link_is_reported(tmp_path: Path):
    (tmp_path / "other.md").write_text("# Other\n\n## Its section\n")
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n\n[fine](other.md#its-section) [self](#page) [web](https://example.com/x.md#y) `[code](gone.md)`\n"
        "[gone](gone.md) [wrong anchor](other.md#no-such-section) [wrong here](#nothing)\n"
    )
    assert broken_links(page) == [
        "page.md: gone.md (no such file)",
        "page.md: other.md#no-such-section (no heading #no-such-section in other.md)",
        "page.md: #nothing (no heading #nothing in page.md)",
    ]


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(CLONE)))
def test_every_relative_link_leads_to_a_file_and_heading(page: Path):
    assert broken_links(page) == []
