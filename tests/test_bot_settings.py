"""Starting the bot: settings from the environment and the clear failures before any network."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bot.settings import BotSettings, Cooldown
from index.settings import SettingsError
from tests.support.paths import REPO


def test_settings_are_read_from_the_environment() -> None:
    settings = BotSettings.from_env(
        {
            "DISCORD_TOKEN": " abc ",
            "DISCORD_GUILD_ID": "123",
            "ASK_CHANNELS": "4, 5",
            "ASK_COOLDOWN": "3/30",
            "ARTICLEBOT_INDEX": "/tmp/x",
            "ARTICLEBOT_ADD_TIMEOUT": "90",
        }
    )
    assert settings.token == "abc" and settings.guild_id == 123
    assert settings.ask_channels == {4, 5}
    assert settings.cooldown == Cooldown(3, 30.0)
    assert str(settings.index.index_dir) == "/tmp/x"
    assert settings.add_timeout == 90.0 and BotSettings.from_env({}).add_timeout == 60.0
    assert BotSettings.from_env({"ASK_COOLDOWN": "0"}).cooldown.questions == 0


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DISCORD_GUILD_ID", "my-server"),
        ("ASK_CHANNELS", "general"),
        ("ASK_COOLDOWN", "fast"),
        ("ASK_COOLDOWN", "3/0"),
        ("ARTICLEBOT_ADD_TIMEOUT", "soon"),
        ("ARTICLEBOT_ADD_TIMEOUT", "0"),
    ],
)
def test_bad_settings_name_the_setting(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        BotSettings.from_env({name: value})


def test_shards_are_all_of_the_count_unless_named() -> None:
    unset = BotSettings.from_env({})
    assert (unset.shard_count, unset.shard_ids) == (None, None), "Discord's recommended count, all in this process"
    every = BotSettings.from_env({"DISCORD_SHARD_COUNT": "4"})
    assert (every.shard_count, every.shard_ids) == (4, None)
    some = BotSettings.from_env({"DISCORD_SHARD_COUNT": " 4 ", "DISCORD_SHARD_IDS": "2, 3"})
    assert (some.shard_count, some.shard_ids) == (4, (2, 3))
    assert BotSettings.from_env({"DISCORD_SHARD_COUNT": "2", "DISCORD_SHARD_IDS": "0"}).shard_ids == (0,)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DISCORD_SHARD_COUNT": "two"}, "DISCORD_SHARD_COUNT must be a whole number of shards, 1 or more, got 'two'"),
        ({"DISCORD_SHARD_COUNT": "0"}, "DISCORD_SHARD_COUNT must be a whole number of shards, 1 or more, got '0'"),
        ({"DISCORD_SHARD_COUNT": "-1"}, "DISCORD_SHARD_COUNT must be a whole number"),
        ({"DISCORD_SHARD_COUNT": "2²"}, "DISCORD_SHARD_COUNT must be a whole number"),
        ({"DISCORD_SHARD_IDS": "0"}, "DISCORD_SHARD_IDS needs DISCORD_SHARD_COUNT"),
        ({"DISCORD_SHARD_COUNT": "2", "DISCORD_SHARD_IDS": "first"}, "DISCORD_SHARD_IDS must be shard numbers"),
        ({"DISCORD_SHARD_COUNT": "2", "DISCORD_SHARD_IDS": "0,-1"}, "DISCORD_SHARD_IDS must be shard numbers"),
        (
            {"DISCORD_SHARD_COUNT": "2", "DISCORD_SHARD_IDS": "1,2"},
            "DISCORD_SHARD_IDS must be below DISCORD_SHARD_COUNT=2 \\(shards count from 0\\), got 2",
        ),
        ({"DISCORD_SHARD_COUNT": "3", "DISCORD_SHARD_IDS": "1, 1"}, "DISCORD_SHARD_IDS names a shard twice: '1, 1'"),
    ],
)
def test_bad_shard_settings_say_what_is_wrong(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=f"^{message}"):
        BotSettings.from_env(env)


def test_a_bad_shard_setting_stops_the_bot_in_one_line(tmp_path) -> None:
    env = {
        **os.environ,
        "DISCORD_TOKEN": "x",
        "DISCORD_SHARD_COUNT": "2",
        "DISCORD_SHARD_IDS": "2",
        "PYTHONPATH": str(REPO),
    }
    done = subprocess.run(
        [sys.executable, "-m", "bot"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2
    assert (
        done.stderr == "articlebot: DISCORD_SHARD_IDS must be below DISCORD_SHARD_COUNT=2 (shards count from 0), "
        "got 2\n"
    )


@pytest.mark.parametrize(
    "command",
    [
        [sys.executable, "-m", "bot"],
        [sys.executable, "-c", "from bot.cli import main; raise SystemExit(main(['run']))"],
    ],
)
def test_without_a_token_the_bot_says_so_in_one_line_and_exits_2(tmp_path, command: list[str]) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DISCORD_TOKEN"}
    done = subprocess.run(
        command, cwd=tmp_path, env={**env, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2
    assert done.stderr.startswith("articlebot: DISCORD_TOKEN is not set") and done.stderr.count("\n") == 1
