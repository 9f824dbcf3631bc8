"""Starting the bot: settings from the environment and the clear failures before any network."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bot.settings import BotSettings, Cooldown
from index.settings import SettingsError

from .conftest import REPO


def test_settings_are_read_from_the_environment() -> None:
    settings = BotSettings.from_env({"DISCORD_TOKEN": " abc ", "DISCORD_GUILD_ID": "123", "ASK_CHANNELS": "4, 5",
                                     "ASK_COOLDOWN": "3/30", "ARTICLEBOT_INDEX": "/tmp/x", "ARTICLEBOT_ADD_TIMEOUT": "90"})
    assert settings.token == "abc" and settings.guild_id == 123
    assert settings.ask_channels == {4, 5}
    assert settings.cooldown == Cooldown(3, 30.0)
    assert str(settings.index.index_dir) == "/tmp/x"
    assert settings.add_timeout == 90.0 and BotSettings.from_env({}).add_timeout == 60.0
    assert BotSettings.from_env({"ASK_COOLDOWN": "0"}).cooldown.questions == 0


@pytest.mark.parametrize(("name", "value"), [("DISCORD_GUILD_ID", "my-server"), ("ASK_CHANNELS", "general"),
                                             ("ASK_COOLDOWN", "fast"), ("ASK_COOLDOWN", "3/0"),
                                             ("ARTICLEBOT_ADD_TIMEOUT", "soon"), ("ARTICLEBOT_ADD_TIMEOUT", "0")])
def test_bad_settings_name_the_setting(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        BotSettings.from_env({name: value})


@pytest.mark.parametrize("command", [[sys.executable, "-m", "bot"], [sys.executable, "-c", "from bot.cli import main; raise SystemExit(main(['run']))"]])
def test_without_a_token_the_bot_says_so_in_one_line_and_exits_2(tmp_path, command: list[str]) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DISCORD_TOKEN"}
    done = subprocess.run(command, cwd=tmp_path, env={**env, "PYTHONPATH": str(REPO)}, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.startswith("articlebot: DISCORD_TOKEN is not set") and done.stderr.count("\n") == 1
