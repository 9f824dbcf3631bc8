"""What the README and docs/ tell a user about the bot is what the bot does."""

from __future__ import annotations

import re

from bot.cogs.watch import ADDED, FAILED, KNOWN, LIMITED
from bot.permissions import BOT_PERMISSIONS, USED_PERMISSIONS
from tests.support.paths import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")
DISCORD = (REPO / "docs" / "discord.md").read_text(encoding="utf-8")


def test_the_reactions_documented_are_those_the_bot_adds() -> None:
    reactions = {ADDED: "added", KNOWN: "known|already there", FAILED: "failed|could not add", LIMITED: "limit"}
    for text in (README, DISCORD):
        line = next(line for line in text.splitlines() if ADDED in line)
        shown = dict(reversed(re.findall(r"([^\w\s(),:;|`]+) ([\w ]+)", line)))  # each at its first mention
        assert set(shown) == set(reactions), line
        for emoji, words in shown.items():
            assert re.search(reactions[emoji], words), (emoji, words)


def test_the_invite_asks_for_every_permission_the_bot_uses() -> None:
    [asked] = re.findall(r"oauth2/authorize\?\S*permissions=(\d+)", DISCORD)
    assert int(asked) == BOT_PERMISSIONS.value
    named = re.search(r"the permissions (.+?) \(`BOT_PERMISSIONS`", " ".join(DISCORD.split()))
    assert named is not None
    assert set(re.split(r", | and ", named.group(1))) == set(USED_PERMISSIONS.values())


def test_answers_to_ask_channels_are_documented_as_the_bot_gives_them() -> None:
    row = next(line for line in README.splitlines() if line.startswith("| any message in an `ASK_CHANNELS` channel"))
    assert "thread" in row and "as a reply;" not in row
    assert "answered as a reply" not in DISCORD


def layout_paths() -> set[str]:
    """The paths docs/architecture.md's layout block names, from its indentation (two spaces a level)."""
    text = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    start = text.index("```\n", text.index("## Layout")) + 4
    stack: list[str] = []
    paths = set()
    for line in text[start : text.index("```", start)].splitlines():
        if not line.strip() or line.startswith(" " * 20):  # a description's second line
            continue
        depth = (len(line) - len(line.lstrip())) // 2
        stack = [*stack[:depth], line.split()[0]]
        paths.add("".join(part if part.endswith("/") else part for part in stack))
    return paths


def test_the_architecture_page_has_a_line_for_every_module() -> None:
    listed = layout_paths()
    modules = [
        p.relative_to(REPO).as_posix()
        for folder in ("index", "bot")
        for p in (REPO / folder).rglob("*.py")
        if p.name != "__init__.py" or p.parent.name in ("index", "cogs")
    ]
    assert modules and sorted(m for m in modules if m not in listed) == []


def test_every_command_the_bot_has_is_in_the_readme_table_and_docs_discord() -> None:
    from bot.cogs import COGS

    commands = [
        f"/{cog.__cog_group_name__} {command.name}" if cog.__cog_is_app_commands_group__ else f"/{command.name}"
        for cog in COGS
        for command in cog.__cog_app_commands__
    ]
    table = [line for line in README.splitlines() if line.startswith("| `/")]
    assert len(commands) >= 18
    for command in commands:
        shown = re.compile(re.escape(f"`{command}") + r"[`\s]")
        assert any(shown.search(row) for row in table), f"{command} is not in the README's table"
        assert shown.search(DISCORD), f"{command} is not in docs/discord.md"
