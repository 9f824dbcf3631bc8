"""The bot's settings: Discord's, read from the environment or `.env`, plus the index settings."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from index import Settings, SettingsError, load_dotenv_file


@dataclass(frozen=True)
class Cooldown:
    """At most `questions` per `seconds` for each user; 0 questions means no limit."""

    questions: int = 4
    seconds: float = 60.0

    @classmethod
    def parse(cls, text: str) -> Cooldown:
        """Read `N/SECONDS` (e.g. `4/60`), or `0` for no limit."""
        text = text.strip()
        if text in {"", "0", "off"}:
            return cls(0, 0.0)
        questions, sep, seconds = text.partition("/")
        try:
            parsed = cls(int(questions), float(seconds))
        except ValueError:
            parsed = None
        if not sep or parsed is None or parsed.questions < 1 or parsed.seconds <= 0:
            raise SettingsError(f"ASK_COOLDOWN must look like 4/60 (questions/seconds) or 0, got {text!r}")
        return parsed


def _ids(name: str, text: str) -> frozenset[int]:
    parts = [p for p in text.replace(" ", ",").split(",") if p]
    if not all(p.isdigit() for p in parts):
        raise SettingsError(f"{name} must be channel ids separated by commas, got {text!r}")
    return frozenset(int(p) for p in parts)


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    text = env.get(name, "").strip()
    try:
        value = float(text) if text else default
    except ValueError:
        value = -1.0
    if not 0 < value <= 3600:
        raise SettingsError(f"{name} must be a number of seconds between 0 and 3600, got {text!r}")
    return value


def _count(env: Mapping[str, str], name: str, default: int) -> int:
    text = env.get(name, "").strip()
    if not text:
        return default
    if not text.isdigit() or not 0 < int(text) <= 10_000:
        raise SettingsError(f"{name} must be a whole number between 1 and 10000, got {text!r}")
    return int(text)


def _shard_count(env: Mapping[str, str]) -> int | None:
    text = env.get("DISCORD_SHARD_COUNT", "").strip()
    if not text:
        return None
    if not text.isdecimal() or int(text) < 1:  # isdecimal: "²" is a digit int() refuses
        raise SettingsError(f"DISCORD_SHARD_COUNT must be a whole number of shards, 1 or more, got {text!r}")
    return int(text)


def _shard_ids(env: Mapping[str, str], count: int | None) -> tuple[int, ...] | None:
    """The shards this process runs: None for all of them (discord.py's default)."""
    text = env.get("DISCORD_SHARD_IDS", "").strip()
    if not text:
        return None
    if count is None:
        raise SettingsError(
            f"DISCORD_SHARD_IDS needs DISCORD_SHARD_COUNT (the shards of every process together), "
            f"got DISCORD_SHARD_IDS={text!r} alone"
        )
    parts = [p for p in text.replace(" ", ",").split(",") if p]
    if not parts or not all(p.isdecimal() for p in parts):
        raise SettingsError(f"DISCORD_SHARD_IDS must be shard numbers separated by commas (e.g. 0,1), got {text!r}")
    ids = tuple(int(p) for p in parts)
    outside = [i for i in ids if i >= count]
    if outside:
        raise SettingsError(
            f"DISCORD_SHARD_IDS must be below DISCORD_SHARD_COUNT={count} (shards count from 0), "
            f"got {', '.join(map(str, outside))}"
        )
    if len(set(ids)) != len(ids):
        raise SettingsError(f"DISCORD_SHARD_IDS names a shard twice: {text!r}")
    return ids


@dataclass(frozen=True)
class BotSettings:
    """What the bot needs besides the index; build it with `BotSettings.from_env()`."""

    token: str = ""
    guild_id: int | None = None
    ask_channels: frozenset[int] = frozenset()
    cooldown: Cooldown = Cooldown()
    #: Seconds the Previous/Next buttons of /sources keep working.
    page_timeout: float = 180.0
    #: A role (name or id) whose members may add and remove articles besides Manage Server holders.
    manager_role: str = ""
    #: Seconds an /add may take to read or fetch, extract and index its article before it is abandoned.
    add_timeout: float = 60.0
    #: Links from watched channels each server may add in an hour.
    links_per_hour: int = 30
    #: Minutes between polls of each feed (jittered).
    feed_minutes: int = 15
    #: Shards of the whole bot (every process together); None: as many as Discord recommends.
    shard_count: int | None = None
    #: The shards this process runs; None: every shard of `shard_count`.
    shard_ids: tuple[int, ...] | None = None
    index: Settings = field(default_factory=Settings)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, index_dir: Path | None = None) -> BotSettings:
        """Read the settings from `env` (default: the process environment after loading `.env`); `index_dir`
        (`run --index`) wins over ARTICLEBOT_INDEX."""
        if env is None:
            load_dotenv_file()
            env = os.environ
        guild = env.get("DISCORD_GUILD_ID", "").strip()
        if guild and not guild.isdigit():
            raise SettingsError(f"DISCORD_GUILD_ID must be a server id (digits), got {guild!r}")
        shard_count = _shard_count(env)
        return cls(
            token=env.get("DISCORD_TOKEN", "").strip(),
            guild_id=int(guild) if guild else None,
            ask_channels=_ids("ASK_CHANNELS", env.get("ASK_CHANNELS", "")),
            cooldown=Cooldown.parse(env.get("ASK_COOLDOWN", "4/60")),
            manager_role=env.get("ARTICLEBOT_MANAGER_ROLE", "").strip(),
            add_timeout=_seconds(env, "ARTICLEBOT_ADD_TIMEOUT", cls.add_timeout),
            links_per_hour=_count(env, "ARTICLEBOT_LINKS_PER_HOUR", cls.links_per_hour),
            feed_minutes=_count(env, "ARTICLEBOT_FEED_MINUTES", cls.feed_minutes),
            shard_count=shard_count,
            shard_ids=_shard_ids(env, shard_count),
            index=Settings.from_env(env, index_dir),
        )
