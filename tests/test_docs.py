"""The documents: every relative link in a Markdown file leads to a file and, where it names one, a heading; the
README stays a short front door; the generated references (docs/cli.md, docs/settings.md) say what the code says;
each package's docstring lists its modules."""

from __future__ import annotations

import difflib
import importlib
import pkgutil
import re
import subprocess
import unicodedata
from pathlib import Path

import pytest

import prelabel
from prelabel.cli import main as prelabel_command
from prelabel.cli.reference import commands, references

ROOT = Path(__file__).resolve().parent.parent

FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
INLINE_CODE = re.compile(r"(`+)(?:(?!\1).)+?\1")
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+\"[^\"]*\")?\s*$")
EXTERNAL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")  # http:, https:, mailto:


def prose_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) outside fenced code blocks."""
    lines, fenced = [], False
    for number, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append((number, line))
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: its text without markup, lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "").lower()
    kept = "".join(ch for ch in text if ch in " -_" or unicodedata.category(ch)[0] in "LNM")
    return kept.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    for _, line in prose_lines(path.read_text(encoding="utf-8")):
        heading = HEADING.match(line)
        if heading:
            base = slug(heading.group(2))
            name, n = base, 0
            while name in found:  # GitHub numbers repeated headings: x, x-1, x-2
                n += 1
                name = f"{base}-{n}"
            found.add(name)
    return found


def broken_links(path: Path, root: Path) -> list[str]:
    """Each relative link of one Markdown file that leads nowhere, as 'file:line: target (why)'."""
    problems = []
    for number, line in prose_lines(path.read_text(encoding="utf-8")):
        prose = INLINE_CODE.sub("", line)
        targets = [match.group(1) for match in LINK.finditer(prose)]
        reference = REFERENCE.match(prose)
        if reference:
            targets.append(reference.group(1))
        for target in targets:
            if EXTERNAL.match(target):
                continue
            file_part, _, anchor = target.partition("#")
            linked = (path.parent / file_part).resolve() if file_part else path
            where = f"{path.relative_to(root)}:{number}: {target}"
            if not linked.exists():
                problems.append(f"{where} (no such file)")
            elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
                problems.append(f"{where} (no heading '{anchor}' in {linked.name})")
    return problems


def markdown_files(root: Path) -> list[Path]:
    """The repository's Markdown files, committed or not, less what git ignores (venvs, test artifacts)."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.md"],
                            cwd=root, capture_output=True, text=True, check=True).stdout.split()
    return [root / name for name in sorted(set(listed)) if (root / name).is_file()]


def test_every_relative_link_leads_somewhere():
    files = markdown_files(ROOT)
    assert ROOT / "README.md" in files and ROOT / "docs" / "README.md" in files
    problems = [problem for path in files for problem in broken_links(path, ROOT)]
    assert not problems, "links that lead nowhere:\n" + "\n".join(problems)


def test_the_link_check_finds_a_missing_file_and_a_missing_heading(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "guide.md").write_text(
        "# The guide\n\n## One machine, no Docker: `prelabel up`\n\n## Notes\n\n## Notes\n", encoding="utf-8")
    (tmp_path / "README.md").write_text(
        "[fine](docs/guide.md#one-machine-no-docker-prelabel-up) [second notes](docs/guide.md#notes-1)\n"
        "[gone](docs/missing.md) [no such heading](docs/guide.md#two-machines) ![image](docs/none.png)\n"
        "[external](https://example.org/x.md) `[in code](nowhere.md)` [self](#readme)\n"
        "```\n[in a fence](nowhere.md)\n```\n"
        "[ref]: docs/also-missing.md\n", encoding="utf-8")
    problems = broken_links(tmp_path / "README.md", tmp_path)
    assert problems == [
        "README.md:2: docs/missing.md (no such file)",
        "README.md:2: docs/guide.md#two-machines (no heading 'two-machines' in guide.md)",
        "README.md:2: docs/none.png (no such file)",
        "README.md:3: #readme (no heading 'readme' in README.md)",
        "README.md:7: docs/also-missing.md (no such file)",
    ]


def test_slugs_follow_github():
    assert slug("Delivery: /predict never times out, a prediction reaches Label Studio exactly once") == \
        "delivery-predict-never-times-out-a-prediction-reaches-label-studio-exactly-once"
    assert slug("`model_version`") == "model_version"
    assert slug("Decoding (`pipeline/images.py`)") == "decoding-pipelineimagespy"
    assert slug("3. SLAC and TLAC: name the object") == "3-slac-and-tlac-name-the-object"
    assert slug("Japanese: 日本語の名前") == "japanese-日本語の名前"


def test_readme_is_a_short_front_door():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 200, "README.md is the front door: move detail into docs/ (docs/README.md)"
    for command in ("make demo", "make up IMAGES=", "make test"):
        assert command in readme, f"README.md no longer shows `{command}`"
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "\nmake test\n" in ci, ".ci/run must run the README's test command, `make test`"


@pytest.mark.parametrize("path", sorted(references()))
def test_generated_reference_is_current(path):
    expected = references()[path]
    target = ROOT / path
    actual = target.read_text(encoding="utf-8") if target.exists() else ""
    if actual != expected:
        diff = "".join(list(difflib.unified_diff(actual.splitlines(True), expected.splitlines(True),
                                                 f"{path} (committed)", f"{path} (from the code)"))[:60])
        pytest.fail(f"{path} is not what the code says: run scripts/gen-docs and commit it\n{diff}")


def test_the_reference_lists_every_command():
    text = references()["docs/cli.md"]
    names = [" ".join(path) for path, _ in commands(prelabel_command)]
    assert {"prelabel", "prelabel up", "prelabel vocab accept", "prelabel report"} <= set(names)
    for name in names:
        assert f"\n## {name}\n" in text and f"Usage: {name} " in text, f"docs/cli.md lacks `{name}`"


PACKAGES = ["prelabel", *sorted(f"prelabel.{info.name}" for info in pkgutil.iter_modules(prelabel.__path__)
                                if info.ispkg)]


@pytest.mark.parametrize("name", PACKAGES)
def test_each_package_docstring_lists_its_modules(name):
    """The module table lives in the packages' docstrings: every module named (`name` or `name.py`), and every
    name a list item gives (`- `a`, `b`: ...`) still a module or folder of the package."""
    package = importlib.import_module(name)
    doc = package.__doc__ or ""
    folder = Path(package.__file__).parent
    assert doc.strip(), f"{name}/__init__.py has no docstring: say the package's one idea and list its modules"
    unnamed = [info.name for info in pkgutil.iter_modules(package.__path__)
               if f"`{info.name}`" not in doc and f"`{info.name}.py`" not in doc]
    assert not unnamed, f"{name}'s docstring does not name {unnamed} (as `module`): the list is the module table"
    items = [line.strip()[2:].partition(":")[0] for line in doc.splitlines() if line.strip().startswith("- ")]
    listed = [token for item in items for token in re.findall(r"`([^`]+)`", item)]
    gone = [token for token in listed if not (folder / token.removesuffix(".py").rstrip("/")).exists()
            and not (folder / f"{token.removesuffix('.py')}.py").exists()]
    assert not gone, f"{name}'s docstring lists {gone}, which are no longer in the package"


def test_every_command_shows_an_example():
    for path, context in commands(prelabel_command):
        text = context.command.get_help(context)
        examples = text.partition("Example")[2]
        assert examples, f"`{' '.join(path)} --help` shows no example: add one (click's epilog)"
        assert f"  {' '.join(path)}" in examples or path == ("prelabel",), \
            f"`{' '.join(path)} --help`: its example does not run `{' '.join(path)}`"
