"""The README and the pages under docs/ stay true to the code: every `fairshot` command they show
parses with the CLI's own parser and every config key it sets exists; every link between them
reaches a file and a heading that exist; the README stays a page a newcomer reads in ten minutes.

Every command is parsed; the analyst's reads (`query`, `tables`) also run on the tiny world as
written. The rest are parsed, not run: running them all needs warehouses, buckets and clusters
the suite builds elsewhere (the DAG, spark-submit, cluster, bucket, CSV and KuaiRand tests run the
README's own commands on the tiny world). A parse catches what rots first: a renamed command or
flag, a config key that moved."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from jobs.cli import build_parser
from jobs.config import load_config

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
README_MAX_LINES = 200


def fenced_shell_lines(text: str) -> list[str]:
    """Logical lines (continuations joined) of the page's ```bash blocks."""
    lines, block, current = [], False, ""
    for raw in text.splitlines():
        if raw.strip().startswith("```"):
            block = raw.strip() == "```bash" if not block else False
            continue
        if not block:
            continue
        current += raw.rstrip("\\").strip() + " "
        if not raw.rstrip().endswith("\\"):
            lines.append(current.strip())
            current = ""
    return lines


def fairshot_invocations(text: str) -> list[list[str]]:
    """The argument lists of every `fairshot ...` command in the page's shell blocks."""
    found = []
    for line in fenced_shell_lines(text):
        lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|")
        lexer.whitespace_split, lexer.commenters = True, "#"
        commands, words = [], []
        for token in lexer:
            if token in (";", "&&", "||", "|", "&"):
                commands.append(words)
                words = []
            else:
                words.append(token)
        for command in [*commands, words]:
            while command and re.match(r"^[A-Z_][A-Z0-9_]*=", command[0]):   # VAR=value before the command
                command = command[1:]
            if command and Path(command[0]).name == "fairshot":
                found.append(command[1:])
    return found


def headings(text: str) -> set[str]:
    """GitHub's anchors for the page's headings."""
    anchors, block = set(), False
    for line in text.splitlines():
        if line.startswith("```"):
            block = not block
        elif not block and line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            anchors.add(re.sub(r"\s", "-", re.sub(r"[^\w\- ]", "", title)))
    return anchors


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_fairshot_command_a_page_shows_parses_and_sets_only_known_keys(page):
    parser = build_parser()
    for words in fairshot_invocations(page.read_text()):
        if "--help" in words:
            continue
        try:
            arguments = parser.parse_args(words)
        except SystemExit as exit_:
            raise AssertionError(f"{page.name}: `fairshot {' '.join(words)}` does not parse") from exit_
        sets = [o for o in getattr(arguments, "overrides", []) if "$" not in o]
        load_config("local", sets)          # an unknown key or a wrong value stops here, named


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_link_between_the_pages_reaches_a_file_and_heading(page):
    text = page.read_text()
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"^[a-z]+://", target):
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        assert linked.exists(), f"{page.name} links to {target}: no such file"
        if anchor and linked.suffix == ".md":
            assert anchor in headings(linked.read_text()), f"{page.name} links to {target}: no such heading"


def test_the_readme_is_short_and_names_the_two_commands():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= README_MAX_LINES
    assert "make demo" in text and "make test" in text


def test_the_command_finder_sees_continuations_variables_and_comments():
    text = "```bash\nFOO=1 .venv/bin/fairshot run --ds 2026-04-14 \\\n  --set a.b=1   # note\nls\n```\n"
    assert fairshot_invocations(text) == [["run", "--ds", "2026-04-14", "--set", "a.b=1"]]


# What an analyst copies from the pages and runs as written: reads of a published warehouse.
READ_ONLY = ("query", "tables")


def test_every_read_only_command_a_page_shows_runs_on_the_tiny_world(published_world, tmp_path, monkeypatch):
    """Every `fairshot query` and `fairshot tables` command the pages show runs on the tiny world
    (whose last day is the pages' 2026-04-14) as written, with only the world's `--env` and
    `--warehouse` added, from a folder whose `sql/` is the repository's. A command that reads a SQL
    file the repository does not hold is the reader's own question (`my_question.sql`): left out."""
    from jobs.cli import main

    (tmp_path / "sql").symlink_to(ROOT / "sql")
    monkeypatch.chdir(tmp_path)
    where = ["--env", "test", "--warehouse", published_world["storage"]["warehouse"]]
    ran = []
    for page in PAGES:
        for words in fairshot_invocations(page.read_text()):
            if not words or words[0] not in READ_ONLY:
                continue
            if words[0] == "query" and not (ROOT / words[1]).exists():
                continue
            assert main([*words, *where]) == 0, f"{page.name}: `fairshot {' '.join(words)}` failed on the tiny world"
            ran.append(" ".join(words))
    assert any(command.startswith("query sql/feed_plan.sql") for command in ran) and "tables" in ran, ran
    written = tmp_path / "plan.csv"            # analysts.md's --output plan.csv: the plan, in CSV
    header, *rows = written.read_text().splitlines()
    assert {"user_id", "item_id", "x"} <= set(header.split(",")) and rows
