"""The bot as its own OS process against a fake Discord that a test runs (tests/support/discord/processes.py starts it).

    FAKE_DISCORD_API=http://127.0.0.1:PORT/api/v10 FAKE_DISCORD_GATEWAY=ws://127.0.0.1:PORT/ \
    DISCORD_TOKEN=fake-bot-token ARTICLEBOT_INDEX=... DISCORD_SHARD_COUNT=2 DISCORD_SHARD_IDS=0 \
    python -m tests.support.discord.bot_process

Everything but the two addresses is the real `articlebot run`: bot.app.main() reads its settings from the
environment (and a .env in the working directory, as in production).
"""

from __future__ import annotations

import os
import sys

from bot import app
from tests.support.discord.fake_discord import point_discord_py_at


def main() -> int:
    api, gateway = os.environ.get("FAKE_DISCORD_API", ""), os.environ.get("FAKE_DISCORD_GATEWAY", "")
    if not api or not gateway:
        print(
            "bot_process: set FAKE_DISCORD_API and FAKE_DISCORD_GATEWAY (a FakeDiscord's api_url and gateway_url)",
            file=sys.stderr,
        )
        return 2
    # The same two switches as patch_discord_py: REST calls and gateway connections go to the fake.
    point_discord_py_at(api, gateway)
    return app.main()


if __name__ == "__main__":
    raise SystemExit(main())
