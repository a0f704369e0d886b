"""The README and the pages under docs/ stay true to the code: every `fairshot` command they show
parses with the CLI's own parser and every config key it sets exists; every link between them
reaches a file and a heading that exist; the README stays a page a newcomer reads in ten minutes.

Every command is parsed; the analyst's reads (`query`, `tables`, `explain`, `fingerprint`) also
run on the tiny world as written, and the commands that write only a landing folder (`sample`,
`mark-complete`) run in a fresh one. The nights (`run`, `ingest`, `catch-up`, `backfill`,
`simulate`) are parsed, not run here: each costs a night's Spark work or needs a bucket or a
cluster, and the suite runs them elsewhere on the tiny world (the DAG, spark-submit, cluster,
bucket, CSV, KuaiRand and simulation tests). A parse catches what rots first: a renamed command or
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
READ_ONLY = ("query", "tables", "explain", "fingerprint")
# What writes only a source's landing folder (no Spark, no tables): run in a folder of their own.
LANDING_ONLY = ("sample", "mark-complete")


# Where explain's ids are planned: the table and column that hold each kind on a published day.
PLANNED_IDS = {"--item": ("gold.item_quotas", "item_id"), "--user": ("gold.allocations", "user_id"),
               "--creator": ("gold.item_quotas", "creator_id")}


def _with_a_planned_id(words: list[str], config) -> list[str]:
    """An explain command with its id (the demo world's, as the pages show it) swapped for the
    smallest one the tiny world planned that day, where the tiny world has no such id: the question
    and its flags are the page's, the ids are each world's own."""
    from deltalake import DeltaTable

    from jobs.warehouse import io

    flag = next(word for word in words if word in PLANNED_IDS)
    table, column = PLANNED_IDS[flag]
    ds, at = words[words.index("--ds") + 1], words.index(flag) + 1
    planned = DeltaTable(io.table_uri(config, table)).to_pandas(partitions=[("ds", "=", ds)])[column]
    if words[at].isdigit() and int(words[at]) in set(planned):
        return words
    return [*words[:at], str(int(planned.min())), *words[at + 1:]]


def test_every_read_only_command_a_page_shows_runs_on_the_tiny_world(published_world, tmp_path, monkeypatch):
    """Every `fairshot query`, `tables`, `explain` and `fingerprint` command the pages show runs on the tiny world
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
            if words[0] == "explain":
                words = _with_a_planned_id(words, published_world)
            assert main([*words, *where]) == 0, f"{page.name}: `fairshot {' '.join(words)}` failed on the tiny world"
            ran.append(" ".join(words))
    assert any(command.startswith("query sql/feed_plan.sql") for command in ran) and "tables" in ran, ran
    assert {command.split()[0] for command in ran} == set(READ_ONLY), ran
    written = tmp_path / "plan.csv"            # analysts.md's --output plan.csv: the plan, in CSV
    header, *rows = written.read_text().splitlines()
    assert {"user_id", "item_id", "x"} <= set(header.split(",")) and rows


def test_every_landing_command_a_page_shows_runs_in_a_fresh_folder(tmp_path, monkeypatch, capsys):
    """Every `fairshot sample` and `fairshot mark-complete` command the pages show runs as written
    in an empty folder (`$PWD` is that folder), the tiny world's `--env test` added where the page
    names no config layer and a warehouse there where it names none, and leaves what it says: a
    landing folder with the world's events, a CSV export, a watermark."""
    from jobs.cli import main
    from jobs.sources.landing import complete_through

    monkeypatch.chdir(tmp_path)
    ran = []
    for page in PAGES:
        for number, words in enumerate(fairshot_invocations(page.read_text())):
            if not words or words[0] not in LANDING_ONLY:
                continue
            words = [word.replace("$PWD", str(tmp_path)) for word in words]
            added = ([] if "--env" in words else ["--env", "test"]) + (
                [] if "--warehouse" in words else ["--warehouse", str(tmp_path / f"wh-{page.stem}-{number}")])
            assert main([*words, *added]) == 0, f"{page.name}: `fairshot {' '.join(words)}` failed"
            said = capsys.readouterr().out
            if words[0] == "mark-complete":
                root = said.split(":")[0].rsplit("/", 1)[0]
                assert complete_through(root) == words[words.index("--ds") + 1], said
            elif "--csv" in words:
                assert any((tmp_path / words[words.index("--csv") + 1]).glob("*.csv")), said
            else:
                root = Path(said.rsplit("-> ", 1)[1].strip())
                assert root.is_dir() and any(root.rglob("*.parquet")), said
            ran.append(words[0])
    assert set(ran) == set(LANDING_ONLY), ran
