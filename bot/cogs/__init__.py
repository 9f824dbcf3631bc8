"""One cog per feature: asking, sources, managing articles, watched channels, feeds, followed questions,
announcements, stats."""

from __future__ import annotations

from .announce import AnnounceCog
from .ask import AskCog
from .feeds import FeedsCog
from .follow import FollowCog
from .manage import ManageCog
from .sources import SourcesCog
from .stats import StatsCog
from .watch import WatchCog

#: The cogs the bot loads, in this order (`bot/app.py: build_bot`).
COGS = (AskCog, SourcesCog, ManageCog, WatchCog, FeedsCog, FollowCog, AnnounceCog, StatsCog)
