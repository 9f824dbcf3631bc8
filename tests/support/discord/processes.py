"""Bot processes (tests/support/discord/bot_process.py) against a FakeDiscord that runs in the test's event loop.

The fake listens on 127.0.0.1 from the pytest process; each bot process is the real `articlebot run`
pointed at it, so several of them can split the shards of one bot::

    env = bot_env(fake, ARTICLEBOT_INDEX=str(folder), DISCORD_SHARD_COUNT="2", DISCORD_SHARD_IDS="1")
    async with bot_process(fake, env, workdir=folder) as bot:  # returns once the fake sent shard 1 READY
        ...
        assert await bot.stop() == 0  # SIGTERM: the bot closes and exits 0; stop(kill=True) is a crash

Keep the fake's event loop free while a process starts: it answers the process's REST calls and gateway.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from bot.settings import BotSettings
from tests.support.discord.fake_discord import FakeDiscord

REPO = Path(__file__).resolve().parents[3]
#: Settings of the developer's own shell that must not reach a test's bot (the test names what it needs).
_OWN_SETTINGS = ("DISCORD_", "ASK_", "ARTICLEBOT_")
#: ...except the tests' encoder cache (tests/conftest.py): the model is exported once per test session.
_SHARED = ("ARTICLEBOT_ENCODER_CACHE",)
#: discord.py colours its log lines when it thinks a terminal (or an editor's) shows them.
_COLOURS = re.compile(r"\x1b\[[0-9;]*m")


def bot_env(fake: FakeDiscord, **settings: str) -> dict[str, str]:
    """The environment of a bot process: the fake's addresses and token, then `settings` (ARTICLEBOT_INDEX,
    DISCORD_SHARD_COUNT, DISCORD_SHARD_IDS, ...)."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(_OWN_SETTINGS) or k in _SHARED}
    return {
        **inherited,
        "PYTHONPATH": str(REPO),
        "FAKE_DISCORD_API": fake.api_url,
        "FAKE_DISCORD_GATEWAY": fake.gateway_url,
        "DISCORD_TOKEN": fake.token,
        **settings,
    }


def shards_of(env: Mapping[str, str], fake: FakeDiscord) -> list[tuple[int, int]]:
    """The shards [id, count] a bot started with `env` runs, read as the bot reads them."""
    settings = BotSettings.from_env(env)
    count = settings.shard_count or fake.recommended_shards  # unset: what GET /gateway/bot recommends
    return [(i, count) for i in (settings.shard_ids if settings.shard_ids is not None else range(count))]


@dataclass
class BotProcess:
    """A running bot process, its shards, and the file its output goes to."""

    process: asyncio.subprocess.Process
    shards: list[tuple[int, int]]
    log: Path

    def output(self) -> str:
        """What the process has logged so far, without colours."""
        return _COLOURS.sub("", self.log.read_text(encoding="utf-8", errors="replace"))

    def _tail(self) -> str:
        return "\n".join(self.output().splitlines()[-40:])

    async def stop(self, *, kill: bool = False, timeout: float = 60.0) -> int:
        """Stop it and return its exit status: SIGTERM (the bot leaves the gateway, closes its index and
        exits 0) or, with `kill`, SIGKILL (a crash: -9)."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.process.wait(), timeout)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
            raise AssertionError(
                f"the bot process did not stop within {timeout}s of SIGTERM:\n{self._tail()}"
            ) from None

    async def wait_ready(self, fake: FakeDiscord, already: Counter[tuple[int, int]], timeout: float) -> None:
        """Wait until the fake has sent READY (and the GUILD_CREATEs) to each of its shards, more times than
        `already` (so that a restarted shard counts only once it is back)."""

        def ready() -> bool:
            now = Counter(fake.ready_shards)
            return all(now[shard] > already[shard] for shard in self.shards)

        waiting = asyncio.ensure_future(fake.wait_for(ready, timeout, f"bot process shards {self.shards} READY"))
        exited = asyncio.ensure_future(self.process.wait())
        try:
            await asyncio.wait({waiting, exited}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            exited.cancel()
            if not waiting.done():
                waiting.cancel()
        if self.process.returncode is not None:
            raise AssertionError(
                f"the bot process exited with {self.process.returncode} before it was ready:\n{self._tail()}"
            )
        try:
            waiting.result()
        except AssertionError as exc:
            raise AssertionError(f"{exc}\nbot process output:\n{self._tail()}") from None


async def start_bot_process(
    fake: FakeDiscord, env: Mapping[str, str], *, workdir: Path, timeout: float = 180.0
) -> BotProcess:
    """Start `python -m tests.support.discord.bot_process` with `env` (see bot_env) in `workdir`, where its output
    goes to bot-<shards>.log, and return once the fake has sent its shards READY; AssertionError with the
    process's output if it exits or is not ready within `timeout` (it loads the model and index first)."""
    shards = shards_of(env, fake)
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / f"bot-{'-'.join(str(i) for i, _ in shards)}-of-{shards[0][1]}.log"
    already = Counter(fake.ready_shards)
    with log.open("ab") as out:  # the child keeps its own copy of the file descriptor
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.support.discord.bot_process",
            cwd=workdir,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    started = BotProcess(process, shards, log)
    try:
        await started.wait_ready(fake, already, timeout)
    except BaseException:
        await started.stop(kill=True)
        raise
    return started


@asynccontextmanager
async def bot_process(
    fake: FakeDiscord, env: Mapping[str, str], *, workdir: Path, timeout: float = 180.0
) -> AsyncIterator[BotProcess]:
    """A started bot process (start_bot_process), stopped with SIGTERM at the end unless already stopped."""
    started = await start_bot_process(fake, env, workdir=workdir, timeout=timeout)
    try:
        yield started
    finally:
        await started.stop()
