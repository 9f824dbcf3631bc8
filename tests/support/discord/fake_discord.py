"""A fake Discord (REST API v10 + gateway) on 127.0.0.1 that the unmodified discord.py client talks to.

The fake plays Discord's part faithfully enough for end-to-end bot tests: login, gateway
READY/GUILD_CREATE, heartbeats, app command sync, INTERACTION_CREATE and the interaction
callback/webhook routes, channel messages and MESSAGE_CREATE delivery honouring intents.
It enforces Discord's rules (3 s first response, single acknowledgement, message limits, the
MESSAGE_CONTENT intent, channel permissions) and records every broken rule in ``violations``.

Sharding works as on Discord: a connection that identifies as shard ``[i, n]`` is told only of the
guilds with ``(guild_id >> 22) % n == i`` and receives only their events; direct messages go to shard
0; ``GET /gateway/bot`` recommends ``recommended_shards``. ``add_guild(name, shard=(i, n))`` picks an
id that lands on shard i of n. Several clients (or processes) may be connected at once, one per shard.

Typical use (see conftest.py for the fixtures)::

    guild = fake.add_guild("Test")
    channel = fake.add_channel(guild, "general")
    alice = fake.add_user("alice")
    fake.add_member(guild, alice)
    async with running_client(fake, bot):
        await bot.tree.sync()  # global commands are usable at once on the fake
        interaction = await fake.send_command("ping", user=alice, channel=channel)
        reply = await interaction.wait_for_original()
        assert reply.content == "pong"
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import secrets
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import discord
import yarl
from aiohttp import BodyPartReader, WSMsgType, web

from tests.support.discord.fake_payloads import (
    ALL_PERMISSIONS,
    DEFAULT_BOT_PERMISSIONS,
    DEFAULT_EVERYONE_PERMISSIONS,
    JSON,
    PRIVILEGED_INTENTS,
    CallbackType,
    ChannelType,
    ComponentType,
    FakeChannel,
    FakeGuild,
    FakeMember,
    FakeMessage,
    FakeRole,
    FakeUser,
    FormErrors,
    Intent,
    InteractionType,
    MessageFlag,
    MessageType,
    OptionType,
    Overwrite,
    Permission,
    SnowflakeFactory,
    UploadedFile,
    blank_content,
    find_component,
    iso_now,
    parse_mentions,
    validate_choices,
    validate_commands,
    validate_message,
)

__all__ = [
    "Callback",
    "FakeDiscord",
    "FakeInteraction",
    "Intent",
    "Overwrite",
    "Permission",
    "RecordedRequest",
    "patch_discord_py",
    "point_discord_py_at",
    "running_client",
    "shard_of",
]

T = TypeVar("T")
API_PREFIX = "/api/v10"
_BODY: web.RequestKey[Any] = web.RequestKey("json", object)
_FILES: web.RequestKey[list[UploadedFile]] = web.RequestKey("files", list)
ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024
# Application flags Discord sets for a bot whose privileged intents are *not* enabled in the portal.
_LIMITED_FLAGS = {Intent.GUILD_PRESENCES: 1 << 13, Intent.GUILD_MEMBERS: 1 << 15, Intent.MESSAGE_CONTENT: 1 << 19}
_APPLICATION_COMMAND_BADGE = 1 << 23
# Flags a bot may set when creating a message; Discord ignores the rest.
_SETTABLE_FLAGS = MessageFlag.SUPPRESS_EMBEDS | MessageFlag.SUPPRESS_NOTIFICATIONS | MessageFlag.IS_COMPONENTS_V2
# Python values accepted for primitive command option types.
_PYTHON_TYPES: dict[OptionType, type | tuple[type, ...]] = {
    OptionType.STRING: str,
    OptionType.INTEGER: int,
    OptionType.BOOLEAN: bool,
    OptionType.NUMBER: (int, float),
}
# Callback types Discord accepts for each interaction type.
_VALID_CALLBACKS: dict[int, set[int]] = {
    InteractionType.APPLICATION_COMMAND: {4, 5, 9},
    InteractionType.MESSAGE_COMPONENT: {4, 5, 6, 7, 9},
    InteractionType.APPLICATION_COMMAND_AUTOCOMPLETE: {8},
}


def shard_of(guild_id: str | int, shard_count: int) -> int:
    """The shard Discord sends a guild's events to."""
    return (int(guild_id) >> 22) % shard_count


class ApiError(Exception):
    """A Discord error reply: HTTP status plus the JSON error body."""

    def __init__(
        self, status: int, code: int, message: str, errors: FormErrors | None = None, *, reason: str = ""
    ) -> None:
        """``reason`` explains the refusal in the recorded violation."""
        super().__init__(f"{status} {code} {message}")
        self.status, self.code, self.message, self.errors, self.reason = status, code, message, errors, reason

    @classmethod
    def invalid_form(cls, errors: FormErrors) -> ApiError:
        return cls(400, 50035, "Invalid Form Body", errors)

    def body(self) -> JSON:
        data: JSON = {"message": self.message, "code": self.code}
        if self.errors:
            data["errors"] = self.errors.tree
        return data


def _unknown_message() -> ApiError:
    return ApiError(404, 10008, "Unknown Message")


def _unknown_webhook(reason: str = "") -> ApiError:
    return ApiError(404, 10015, "Unknown Webhook", reason=reason)


@dataclass
class RecordedRequest:
    """One REST request the client made (path without the ``/api/v10`` prefix)."""

    method: str
    path: str
    query: dict[str, str]
    json: Any
    files: list[UploadedFile]
    status: int = 0


@dataclass
class Callback:
    """One POST to ``/interactions/{id}/{token}/callback``, accepted or refused."""

    type: int
    data: JSON
    after: float  # seconds since INTERACTION_CREATE was dispatched
    files: list[UploadedFile]
    status: int = 0  # HTTP status the fake answered

    @property
    def accepted(self) -> bool:
        return 200 <= self.status < 300

    @property
    def ephemeral(self) -> bool:
        return bool((self.data.get("flags") or 0) & MessageFlag.EPHEMERAL)


@dataclass(eq=False)
class FakeInteraction:
    """An interaction the test sent, and everything the bot did in reply."""

    fake: FakeDiscord = field(repr=False)
    id: str
    token: str
    type: InteractionType
    payload: JSON = field(repr=False)
    channel: FakeChannel
    user: FakeUser
    source_message: FakeMessage | None = None  # the message whose component was used
    shard: tuple[int, int] = (0, 1)  # the shard [id, count] of the connection it was sent to
    dispatched_at: float = 0.0
    callbacks: list[Callback] = field(default_factory=list)
    original: FakeMessage | None = None
    followups: list[FakeMessage] = field(default_factory=list)
    _followups_seen: int = field(default=0, init=False, repr=False)

    @property
    def name(self) -> str:
        return self.payload["data"].get("name") or self.payload["data"].get("custom_id", "")

    @property
    def response(self) -> Callback | None:
        """The accepted (acknowledging) callback, if any."""
        return next((c for c in self.callbacks if c.accepted), None)

    @property
    def choices(self) -> list[JSON]:
        """Autocomplete choices the bot answered with."""
        response = self.response
        if response is None or response.type != CallbackType.APPLICATION_COMMAND_AUTOCOMPLETE_RESULT:
            raise AssertionError(f"interaction {self.name!r} got no autocomplete result: {self.callbacks}")
        return list(response.data.get("choices", []))

    async def wait_for_response(self, timeout: float = 5.0) -> Callback:
        """Wait for the accepted callback (raises AssertionError on timeout)."""
        return await self.fake.wait_for(lambda: self.response, timeout, f"a response to {self.name!r}")

    async def wait_for_original(self, timeout: float = 5.0) -> FakeMessage:
        """Wait until the response message exists and is no longer "thinking..."."""

        def ready() -> FakeMessage | None:
            msg = self.original
            return msg if msg is not None and not msg.loading else None

        return await self.fake.wait_for(ready, timeout, f"the reply message of {self.name!r}")

    async def wait_for_followup(self, timeout: float = 5.0) -> FakeMessage:
        """Wait for the next followup not yet returned by this method.

        The first followup after a deferred ("thinking") response is the original message,
        edited in place, as on Discord.
        """
        index = self._followups_seen
        msg = await self.fake.wait_for(
            lambda: self.followups[index] if len(self.followups) > index else None,
            timeout,
            f"followup #{index + 1} of {self.name!r}",
        )
        self._followups_seen += 1
        return msg


class _GatewaySession:
    """One gateway websocket: sequence numbers, intents and optional zlib-stream compression."""

    def __init__(self, ws: web.WebSocketResponse, session_id: str, *, compress: bool) -> None:
        self.ws = ws
        self.session_id = session_id
        self.seq = 0
        self.intents: int | None = None
        self.shard: tuple[int, int] = (0, 1)  # [id, count] from IDENTIFY; unsharded is shard 0 of 1
        self.sharded = False  # whether IDENTIFY named a shard (READY then names it back)
        self._compressor = zlib.compressobj() if compress else None
        self._lock = asyncio.Lock()  # frames must leave in sequence order and share one zlib stream

    async def send(self, op: int, data: Any, event: str | None = None) -> None:
        async with self._lock:
            seq = None
            if op == 0:
                self.seq += 1
                seq = self.seq
            text = json.dumps({"op": op, "d": data, "s": seq, "t": event})
            if self._compressor is None:
                await self.ws.send_str(text)
            else:
                frame = self._compressor.compress(text.encode()) + self._compressor.flush(zlib.Z_SYNC_FLUSH)
                await self.ws.send_bytes(frame)

    async def dispatch(self, event: str, data: JSON) -> None:
        await self.send(0, data, event)

    def serves(self, guild_id: str | None) -> bool:
        """Whether Discord sends this session the events of a guild (None: direct messages, shard 0's)."""
        shard_id, count = self.shard
        return (0 if guild_id is None else shard_of(guild_id, count)) == shard_id


def _json_response(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    # Exactly "application/json": discord.py treats "application/json; charset=utf-8" as text.
    return web.Response(
        body=json.dumps(data).encode(), status=status, headers={"Content-Type": "application/json", **(headers or {})}
    )


def _valid_shard(shard: Any) -> bool:
    """An IDENTIFY ``shard`` Discord accepts: [id, count] with 0 <= id < count."""
    return (
        isinstance(shard, list)
        and len(shard) == 2
        and all(isinstance(n, int) and not isinstance(n, bool) for n in shard)
        and 0 <= shard[0] < shard[1]
    )


class FakeDiscord:
    """The fake server plus the test-facing API to populate it, act as users and inspect the bot."""

    def __init__(
        self,
        *,
        token: str = "fake-bot-token",
        bot_name: str = "articlebot",
        heartbeat_interval_ms: int = 1000,
        privileged_intents: int = PRIVILEGED_INTENTS,
        response_deadline: float = 3.0,
        token_lifetime: float = 15 * 60.0,
        recommended_shards: int = 1,
        message_rate: tuple[int, float] | None = None,
    ) -> None:
        """``privileged_intents`` are those enabled for the app in the developer portal;
        ``recommended_shards`` is the shard count ``GET /gateway/bot`` answers (settable later);
        ``message_rate``: Discord's limit on the bot's posts in one channel, (posts, seconds), told in
        the X-RateLimit headers as Discord does (real Discord: 5 per 5 s); a post past it is answered
        429 and is a violation. None: no limit (settable later)."""
        self.token = token
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.privileged_intents = privileged_intents
        self.response_deadline = response_deadline
        self.token_lifetime = token_lifetime
        self.recommended_shards = recommended_shards
        self.message_rate = message_rate
        self._post_windows: dict[str, tuple[float, int]] = {}  # channel id -> (window start, posts in it)
        self._snowflake = SnowflakeFactory()
        self.application_id = self._snowflake()
        self.bot_user = FakeUser(self._snowflake(), bot_name, bot=True)
        self.owner = FakeUser(self._snowflake(), "app-owner")
        self.users: dict[str, FakeUser] = {u.id: u for u in (self.bot_user, self.owner)}
        self.guilds: dict[str, FakeGuild] = {}
        self.channels: dict[str, FakeChannel] = {}
        self.messages: dict[str, FakeMessage] = {}
        self.threads: list[FakeChannel] = []
        """Threads the bot started, in order."""
        self.interactions: dict[str, FakeInteraction] = {}
        self.commands: dict[str | None, dict[str, JSON]] = {None: {}}
        """Synced application commands by guild id (None = global), then by command id."""
        self.requests: list[RecordedRequest] = []
        self.violations: list[str] = []
        self.heartbeats: list[float] = []
        """Loop times (``asyncio.get_running_loop().time()``) at which heartbeats arrived."""
        self.identify: JSON | None = None
        """The last IDENTIFY payload (of any shard)."""
        self.ready_shards: list[tuple[int, int]] = []
        """The shard [id, count] of every connection sent READY and its GUILD_CREATEs, in order."""
        self.gateway_queries: list[dict[str, str]] = []
        """Query string of every gateway connection (discord.py asks for v=10, json, zlib-stream)."""
        self.presence_updates: list[JSON] = []
        self.typing: list[str] = []
        """Channel ids the bot triggered "is typing" in, in order."""
        self._files: dict[str, bytes] = {}
        self._sessions: dict[tuple[int, int], _GatewaySession] = {}
        """Identified connections by shard; a newer one for the same shard replaces the older."""
        self._sockets: set[web.WebSocketResponse] = set()
        self._ready = asyncio.Event()
        self._changed = asyncio.Condition()
        self._channel_cursor: dict[str, int] = {}
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Listen on a free port of 127.0.0.1."""
        app = web.Application(middlewares=[self._middleware])
        app.router.add_get("/", self._gateway)
        app.router.add_get("/attachments/{channel_id}/{attachment_id}/{filename}", self._get_attachment)
        for method, path, handler in self._api_routes():
            app.router.add_route(method, API_PREFIX + path, handler)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}"

    async def stop(self) -> None:
        """Close gateway sockets and the server."""
        for ws in list(self._sockets):
            await ws.close(code=1001, message=b"fake Discord shutting down")
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def api_url(self) -> str:
        """Value for ``discord.http.Route.BASE``."""
        return self.base_url + API_PREFIX

    @property
    def gateway_url(self) -> str:
        """Value for ``DiscordWebSocket.DEFAULT_GATEWAY`` (also returned by ``GET /gateway``)."""
        return "ws" + self.base_url.removeprefix("http") + "/"

    @property
    def connected_shards(self) -> list[tuple[int, int]]:
        """The shards [id, count] a client is connected and identified as, now."""
        return sorted(self._sessions)

    @property
    def intents(self) -> int:
        """Intents the client identified with (0 before IDENTIFY)."""
        return (self.identify or {}).get("intents") or 0

    # ------------------------------------------------------------------ world building

    def add_user(self, username: str, *, bot: bool = False) -> FakeUser:
        """A user who can join guilds, talk, and use the bot's commands."""
        user = FakeUser(self._snowflake(), username, bot=bot)
        self.users[user.id] = user
        return user

    def add_guild(
        self,
        name: str = "Test Guild",
        *,
        owner: FakeUser | None = None,
        bot_permissions: int = DEFAULT_BOT_PERMISSIONS,
        shard: tuple[int, int] | None = None,
    ) -> FakeGuild:
        """A guild the bot is in, with @everyone, the bot's managed role and the owner as member.

        ``shard=(i, n)`` gives it an id that lands on shard i when the bot runs n shards. Add guilds
        before the client connects: they are announced in READY/GUILD_CREATE.
        """
        owner = owner or self.owner
        if shard is not None and not 0 <= shard[0] < shard[1]:
            raise ValueError(f"shard {shard} does not exist: the id must be below the count")
        guild_id = self._snowflake() if shard is None else self._snowflake.for_shard(*shard)
        guild = FakeGuild(guild_id, name, owner.id)
        guild.roles[guild.id] = FakeRole(guild.id, guild.id, "@everyone", int(DEFAULT_EVERYONE_PERMISSIONS), 0)
        bot_role = FakeRole(
            self._snowflake(),
            guild.id,
            self.bot_user.username,
            int(bot_permissions),
            1,
            managed=True,
            bot_id=self.bot_user.id,
        )
        guild.roles[bot_role.id] = bot_role
        self.guilds[guild.id] = guild
        self.add_member(guild, owner)
        self.add_member(guild, self.bot_user, roles=[bot_role])
        return guild

    def add_role(self, guild: FakeGuild, name: str, *, permissions: int = 0, mentionable: bool = False) -> FakeRole:
        role = FakeRole(self._snowflake(), guild.id, name, int(permissions), len(guild.roles), mentionable=mentionable)
        guild.roles[role.id] = role
        return role

    def add_channel(
        self,
        guild: FakeGuild,
        name: str,
        *,
        topic: str | None = None,
        overwrites: Mapping[FakeRole | FakeUser | FakeMember, Overwrite] | None = None,
    ) -> FakeChannel:
        """A text channel; ``overwrites`` maps a role or member to allowed/denied permission bits."""
        channel = FakeChannel(
            self._snowflake(), ChannelType.GUILD_TEXT, name, guild.id, position=len(guild.channels), topic=topic
        )
        for target, ow in (overwrites or {}).items():
            channel.overwrites[target.id] = (0 if isinstance(target, FakeRole) else 1, ow)
        guild.channels[channel.id] = channel
        self.channels[channel.id] = channel
        return channel

    def add_member(
        self, guild: FakeGuild, user: FakeUser, *, roles: list[FakeRole] | None = None, nick: str | None = None
    ) -> FakeMember:
        member = FakeMember(user, guild.id, [r.id for r in roles or []], nick)
        guild.members[user.id] = member
        return member

    def dm_channel(self, user: FakeUser) -> FakeChannel:
        """The DM channel between ``user`` and the bot (created on first use)."""
        for channel in self.channels.values():
            if channel.type is ChannelType.DM and channel.recipients[0] is user:
                return channel
        channel = FakeChannel(self._snowflake(), ChannelType.DM, recipients=[user])
        self.channels[channel.id] = channel
        return channel

    def command(self, name: str, *, guild: FakeGuild | None = None, type: int = 1) -> JSON:
        """A synced command as Discord stores it (raises KeyError if it was never synced there)."""
        for cmd in self.commands.get(guild.id if guild else None, {}).values():
            if cmd["name"] == name and cmd["type"] == type:
                return cmd
        raise KeyError(f"command {name!r} (type {type}) is not synced {'to ' + guild.name if guild else 'globally'}")

    def _invocable_command(self, name: str, guild: FakeGuild | None) -> JSON:
        """The command a user would pick: the guild's own first, then the global one."""
        scopes = [guild.id] if guild else []
        for scope in [*scopes, None]:
            for cmd in self.commands.get(scope, {}).values():
                if cmd["name"] == name and cmd["type"] == 1:
                    return cmd
        where = f"globally or to {guild.name!r}" if guild else "globally"
        raise KeyError(f"/{name} was never synced {where}: Discord would not offer it (did the bot sync?)")

    # ------------------------------------------------------------------ waiting

    async def wait_for(self, predicate: Callable[[], T | None], timeout: float, what: str) -> T:
        """Wait until ``predicate()`` is truthy and return it; AssertionError on timeout."""
        async with self._changed:
            try:
                result: T | None = await asyncio.wait_for(self._changed.wait_for(predicate), timeout)
            except TimeoutError:
                raise AssertionError(
                    f"timed out after {timeout}s waiting for {what}; violations so far: {self.violations}"
                ) from None
        assert result is not None  # wait_for only returns once the predicate is truthy
        return result

    async def wait_until_ready(self, timeout: float = 10.0, *, shard: tuple[int, int] | None = None) -> None:
        """Wait until a client identified and was sent READY and every GUILD_CREATE (as ``shard``
        [id, count], when given; an unsharded client is shard (0, 1))."""
        if shard is not None:
            await self.wait_for(lambda: shard in self.ready_shards, timeout, f"shard {list(shard)} to be ready")
            return
        try:
            await asyncio.wait_for(self._ready.wait(), timeout)
        except TimeoutError:
            raise AssertionError(f"client did not identify within {timeout}s: {self.violations}") from None

    async def join_guild(self, guild: FakeGuild) -> None:
        """The bot is added to ``guild`` (made by add_guild) while it runs: a GUILD_CREATE to the guild's shard
        without ``unavailable``, which is how a client tells a join from a guild that comes back."""
        for session in self._sessions_for(guild.id):
            members = [
                m
                for m in guild.members.values()
                if (session.intents or 0) & Intent.GUILD_MEMBERS or m.user is self.bot_user
            ]
            data = guild.to_json(members=members)
            del data["unavailable"]
            await session.dispatch("GUILD_CREATE", data)

    async def update_channel(self, channel: FakeChannel) -> None:
        """Tell the bot that ``channel`` changed (its permission overwrites, say): a CHANNEL_UPDATE to its guild's
        shard. Changes made without it reach the REST routes only, as when the bot's cache is behind."""
        for session in self._sessions_for(channel.guild_id):
            await session.dispatch("CHANNEL_UPDATE", channel.to_json())

    def _sessions_for(self, guild_id: str | None) -> list[_GatewaySession]:
        """The connections Discord sends a guild's events to (None: direct messages)."""
        return [session for session in self._sessions.values() if session.serves(guild_id)]

    async def wait_for_message(
        self, channel: FakeChannel, *, timeout: float = 5.0, check: Callable[[FakeMessage], bool] | None = None
    ) -> FakeMessage:
        """Next message the bot posted in ``channel`` via ``POST /channels/{id}/messages``.

        Messages come back in order, each once; ones before a ``check`` match are skipped for
        good. Interaction replies are found on the FakeInteraction instead.
        """
        start = self._channel_cursor.get(channel.id, 0)

        def find() -> tuple[int, FakeMessage] | None:
            posted = self.bot_messages(channel)
            for index in range(start, len(posted)):
                if check is None or check(posted[index]):
                    return index, posted[index]
            return None

        index, message = await self.wait_for(find, timeout, f"a bot message in #{channel.name or channel.id}")
        self._channel_cursor[channel.id] = index + 1
        return message

    def bot_messages(self, channel: FakeChannel) -> list[FakeMessage]:
        """All messages the bot posted in ``channel`` with the channel messages route, oldest first."""
        return [
            m
            for m in self.messages.values()
            if m.channel_id == channel.id and m.author is self.bot_user and m.webhook_id is None
        ]

    def take_violations(self) -> list[str]:
        """Return and clear the recorded violations (for tests that break rules on purpose)."""
        taken, self.violations[:] = list(self.violations), []
        return taken

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # ------------------------------------------------------------------ acting as users

    async def send_message(
        self,
        channel: FakeChannel,
        author: FakeUser,
        content: str = "",
        *,
        embeds: list[JSON] | None = None,
        reply_to: FakeMessage | None = None,
        mention_author: bool = True,
    ) -> FakeMessage:
        """Post a message as ``author`` and deliver MESSAGE_CREATE to the bot as Discord would.

        Mentions are parsed from ``content`` (``<@id>``, ``<@&id>``, ``@everyone``); a reply pings
        the replied-to author when ``mention_author``.
        """
        guild = self.guilds.get(channel.guild_id or "")
        if guild is None and author not in channel.recipients:
            raise ValueError(f"{author.username} is not part of DM channel {channel.id}")
        if guild is not None:
            member = guild.members.get(author.id)
            if member is None:
                raise ValueError(f"{author.username} is not a member of {guild.name}")
            if not guild.permissions_in(channel, member) & Permission.SEND_MESSAGES:
                raise PermissionError(f"{author.username} cannot send messages in #{channel.name}")
        msg = FakeMessage(
            self._snowflake(),
            channel.id,
            channel.guild_id,
            author,
            content=content,
            embeds=list(embeds or []),
            referenced=reply_to,
            type=MessageType.REPLY if reply_to else MessageType.DEFAULT,
        )
        self._resolve_mentions(msg, channel, None if mention_author else {"parse": ["users", "roles", "everyone"]})
        await self._store_and_dispatch(msg)
        return msg

    async def send_command(
        self,
        name: str,
        *,
        user: FakeUser,
        channel: FakeChannel,
        options: Mapping[str, Any] | None = None,
    ) -> FakeInteraction:
        """Invoke a synced slash command; ``name`` may include subcommands ("config set").

        Option values are plain Python values, or FakeUser/FakeMember/FakeChannel/FakeRole for
        entity options. Raises if Discord would not let this user run the command.
        """
        data = self._command_data(name, user, channel, options or {}, focused=None)
        return await self._send_interaction(InteractionType.APPLICATION_COMMAND, data, user, channel)

    async def send_autocomplete(
        self,
        name: str,
        *,
        user: FakeUser,
        channel: FakeChannel,
        focused: str,
        value: str,
        options: Mapping[str, Any] | None = None,
    ) -> FakeInteraction:
        """Type ``value`` into option ``focused`` of a command (other ``options`` already filled)."""
        data = self._command_data(name, user, channel, {**(options or {}), focused: value}, focused=focused)
        return await self._send_interaction(InteractionType.APPLICATION_COMMAND_AUTOCOMPLETE, data, user, channel)

    async def send_component(
        self, message: FakeMessage, custom_id: str, *, user: FakeUser, values: list[str] | None = None
    ) -> FakeInteraction:
        """Press a button or pick ``values`` in a string select on a message the bot sent."""
        component = find_component(message.components, custom_id)
        if message.deleted or component is None:
            raise LookupError(f"message {message.id} has no component {custom_id!r} to use")
        if component.get("disabled"):
            raise PermissionError(f"component {custom_id!r} is disabled")
        data: JSON = {"custom_id": custom_id, "component_type": component["type"]}
        if component["type"] == ComponentType.STRING_SELECT:
            allowed = {opt["value"] for opt in component.get("options", [])}
            chosen = list(values or [])
            low, high = component.get("min_values", 1), component.get("max_values", 1)
            if not set(chosen) <= allowed or not low <= len(chosen) <= high:
                raise ValueError(f"select {custom_id!r} accepts {low}-{high} of {sorted(allowed)}, not {chosen}")
            data["values"] = chosen
        elif component["type"] != ComponentType.BUTTON:
            raise NotImplementedError(f"component type {component['type']} is not supported by the fake")
        if message.ephemeral and message.interaction_metadata and message.interaction_metadata["user"]["id"] != user.id:
            raise PermissionError("only the user who got an ephemeral message can use its components")
        channel = self.channels[message.channel_id]
        return await self._send_interaction(InteractionType.MESSAGE_COMPONENT, data, user, channel, message)

    # ------------------------------------------------------------------ interaction building

    def _command_data(
        self, name: str, user: FakeUser, channel: FakeChannel, options: Mapping[str, Any], *, focused: str | None
    ) -> JSON:
        root, *path = name.split()
        cmd = self._invocable_command(root, self.guilds.get(channel.guild_id or ""))
        self._check_can_use(cmd, user, channel)
        data: JSON = {"id": cmd["id"], "name": cmd["name"], "type": cmd["type"]}
        if cmd.get("guild_id"):
            data["guild_id"] = cmd["guild_id"]
        container, schema = data, cmd.get("options") or []
        for sub in path:
            opt = next((o for o in schema if o["name"] == sub and o["type"] in (1, 2)), None)
            if opt is None:
                raise KeyError(f"/{root} has no subcommand {sub!r}")
            entry: JSON = {"name": sub, "type": opt["type"], "options": []}
            container.setdefault("options", []).append(entry)
            container, schema = entry, opt.get("options") or []
        if any(o["type"] in (1, 2) for o in schema):
            raise ValueError(f"/{name} needs a subcommand: {[o['name'] for o in schema]}")
        resolved: JSON = {}
        leaf: list[JSON] = []
        for opt_name, value in options.items():
            opt = next((o for o in schema if o["name"] == opt_name), None)
            if opt is None:
                raise KeyError(f"/{name} has no option {opt_name!r}; it has {[o['name'] for o in schema]}")
            if opt_name == focused:
                if not opt.get("autocomplete"):
                    raise ValueError(f"option {opt_name!r} of /{name} does not autocomplete")
                leaf.append({"name": opt_name, "type": opt["type"], "value": value, "focused": True})
            else:
                leaf.append(
                    {
                        "name": opt_name,
                        "type": opt["type"],
                        "value": self._option_value(opt, value, resolved, user, channel),
                    }
                )
        missing = [o["name"] for o in schema if o.get("required") and o["name"] not in options]
        if missing and focused is None:
            raise ValueError(f"/{name} is missing required options {missing}")
        if leaf:
            container["options"] = leaf
        if resolved:
            data["resolved"] = resolved
        return data

    def _check_can_use(self, cmd: JSON, user: FakeUser, channel: FakeChannel) -> None:
        """Discord only offers a command to users and places it is enabled for."""
        contexts = cmd.get("contexts")
        in_dm = channel.type is ChannelType.DM
        if in_dm and (cmd.get("dm_permission") is False or (contexts is not None and 1 not in contexts)):
            raise PermissionError(f"/{cmd['name']} is not available in DMs")
        if not in_dm and contexts is not None and 0 not in contexts:
            raise PermissionError(f"/{cmd['name']} is not available in guilds")
        if in_dm:
            return
        guild = self.guilds[channel.guild_id or ""]
        perms = guild.permissions_in(channel, guild.members[user.id])
        if not perms & Permission.USE_APPLICATION_COMMANDS:
            raise PermissionError(f"{user.username} cannot use application commands in #{channel.name}")
        required = cmd.get("default_member_permissions")
        if required is not None and (
            perms & int(required) != int(required) or (int(required) == 0 and perms != ALL_PERMISSIONS)
        ):
            raise PermissionError(f"/{cmd['name']} requires permissions {required}; {user.username} has {perms}")

    def _option_value(self, opt: JSON, value: Any, resolved: JSON, user: FakeUser, channel: FakeChannel) -> Any:
        kind = OptionType(opt["type"])
        guild = self.guilds.get(channel.guild_id or "")
        if kind in (OptionType.USER, OptionType.MENTIONABLE) and isinstance(value, (FakeUser, FakeMember)):
            target = value.user if isinstance(value, FakeMember) else value
            resolved.setdefault("users", {})[target.id] = target.to_json()
            member = guild.members.get(target.id) if guild is not None else None
            if guild is not None and member is not None:
                resolved.setdefault("members", {})[target.id] = {
                    **member.to_json(with_user=False),
                    "permissions": str(guild.permissions_in(channel, member)),
                }
            return target.id
        if kind in (OptionType.ROLE, OptionType.MENTIONABLE) and isinstance(value, FakeRole):
            resolved.setdefault("roles", {})[value.id] = value.to_json()
            return value.id
        if kind is OptionType.CHANNEL and isinstance(value, FakeChannel):
            types = opt.get("channel_types")
            if types and int(value.type) not in types:
                raise ValueError(f"option {opt['name']!r} only accepts channel types {types}")
            perms = guild.permissions_in(value, guild.members[user.id]) if guild else 0
            resolved.setdefault("channels", {})[value.id] = {**value.to_json(), "permissions": str(perms)}
            return value.id
        if kind is OptionType.ATTACHMENT and isinstance(value, tuple):
            # An upload given as (filename, data): served from the fake's CDN route like Discord's.
            filename, data = value
            attachment_id = self._snowflake()
            self._files[attachment_id] = data
            url = f"{self.base_url}/attachments/{channel.id}/{attachment_id}/{filename}"
            resolved.setdefault("attachments", {})[attachment_id] = {
                "id": attachment_id,
                "filename": filename,
                "size": len(data),
                "url": url,
                "proxy_url": url,
            }
            return attachment_id
        expected = _PYTHON_TYPES.get(kind)
        # bool is an int subclass, but Discord would never send True for a number option.
        is_stray_bool = kind is not OptionType.BOOLEAN and isinstance(value, bool)
        if expected is None or not isinstance(value, expected) or is_stray_bool:
            raise TypeError(f"option {opt['name']!r} ({kind.name}) cannot take {value!r}")
        choices = opt.get("choices")
        if choices and value not in [c["value"] for c in choices]:
            raise ValueError(f"option {opt['name']!r} must be one of {[c['value'] for c in choices]}")
        low, high = opt.get("min_value"), opt.get("max_value")
        if (low is not None and value < low) or (high is not None and value > high):
            raise ValueError(f"option {opt['name']!r} must be within [{low}, {high}]")
        if isinstance(value, str) and not opt.get("min_length", 0) <= len(value) <= opt.get("max_length", 6000):
            raise ValueError(f"option {opt['name']!r} has a bad length")
        return value

    async def _send_interaction(
        self,
        kind: InteractionType,
        data: JSON,
        user: FakeUser,
        channel: FakeChannel,
        source: FakeMessage | None = None,
    ) -> FakeInteraction:
        sessions = self._sessions_for(channel.guild_id)
        if not sessions:
            where = f"the shard of guild {channel.guild_id}" if channel.guild_id else "shard 0 (direct messages)"
            raise RuntimeError(f"no client is connected to the fake gateway for {where}")
        session = sessions[-1]  # one connection gets an interaction: the last identified for the guild
        interaction_id = self._snowflake()
        token = f"aW50ZXJhY3Rpb246{interaction_id}{secrets.token_urlsafe(48)}"
        payload: JSON = {
            "id": interaction_id,
            "application_id": self.application_id,
            "type": int(kind),
            "data": data,
            "token": token,
            "version": 1,
            "channel_id": channel.id,
            "locale": "en-US",
            "entitlements": [],
            "entitlement_sku_ids": [],
            "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
        }
        guild = self.guilds.get(channel.guild_id or "")
        if guild is None:
            payload |= {
                "channel": channel.to_json(),
                "user": user.to_json(),
                "app_permissions": str(int(DEFAULT_BOT_PERMISSIONS)),
                "authorizing_integration_owners": {"0": "0"},
                "context": 1,
            }
        else:
            member = guild.members[user.id]
            perms = guild.permissions_in(channel, member)
            payload |= {
                "guild_id": guild.id,
                "guild": {"id": guild.id, "locale": guild.locale, "features": []},
                "guild_locale": guild.locale,
                "channel": {**channel.to_json(), "permissions": str(perms)},
                "member": {**member.to_json(), "permissions": str(perms)},
                "app_permissions": str(self._bot_permissions(channel)),
                "authorizing_integration_owners": {"0": guild.id},
                "context": 0,
            }
        if source is not None:
            payload["message"] = source.to_json()
        interaction = FakeInteraction(self, interaction_id, token, kind, payload, channel, user, source, session.shard)
        self.interactions[interaction_id] = interaction
        # Start the clock before sending: the bot may answer before the send call returns.
        interaction.dispatched_at = asyncio.get_running_loop().time()
        await session.dispatch("INTERACTION_CREATE", payload)
        return interaction

    # ------------------------------------------------------------------ messages

    def _bot_permissions(self, channel: FakeChannel) -> int:
        if channel.guild_id is None:
            return int(DEFAULT_BOT_PERMISSIONS)
        guild = self.guilds[channel.guild_id]
        return guild.permissions_in(channel, guild.members[self.bot_user.id])

    def _resolve_mentions(self, msg: FakeMessage, channel: FakeChannel, allowed: JSON | None) -> None:
        """Fill mentions from content, filtered by ``allowed_mentions`` as Discord does."""
        parsed = parse_mentions(msg.content)
        parse = set(allowed.get("parse") or []) if allowed is not None else {"users", "roles", "everyone"}
        # discord.py sends these ids as integers, Discord accepts either.
        allowed_users = {str(u) for u in (allowed or {}).get("users") or []}
        allowed_roles = {str(r) for r in (allowed or {}).get("roles") or []}
        guild = self.guilds.get(channel.guild_id or "")
        author_member = guild.members.get(msg.author.id) if guild else None
        can_ping_all = bool(
            guild and author_member and guild.permissions_in(channel, author_member) & Permission.MENTION_EVERYONE
        )
        msg.mentions = [
            self.users[uid]
            for uid in parsed.user_ids
            if uid in self.users and ("users" in parse or uid in allowed_users)
        ]
        msg.mention_roles = [
            rid
            for rid in parsed.role_ids
            if guild
            and rid in guild.roles
            and ("roles" in parse or rid in allowed_roles)
            and (guild.roles[rid].mentionable or can_ping_all)
        ]
        msg.mention_everyone = parsed.everyone and "everyone" in parse and can_ping_all
        replied = msg.referenced.author if msg.referenced else None
        # Replies ping the replied-to author unless allowed_mentions says otherwise.
        pings_reply = allowed is None or bool(allowed.get("replied_user"))
        if replied is not None and pings_reply and replied is not msg.author and replied not in msg.mentions:
            msg.mentions.append(replied)

    def _attachments(
        self, msg: FakeMessage, body: JSON, files: list[UploadedFile], prefix: tuple[str, ...]
    ) -> list[JSON]:
        """Attachments after a create/edit: kept ones by id, new ones from uploaded ``files[n]``."""
        existing = {a["id"]: a for a in msg.attachments}
        listed = body.get("attachments")
        if listed is None:
            # Without an attachments list Discord keeps what is there and adds the uploads.
            listed = [*({"id": a} for a in existing), *({"id": i} for i in range(len(files)))]
        result: list[JSON] = []
        for item in listed:
            index = item["id"]
            if str(index) in existing:
                result.append(existing[str(index)])
                continue
            if not isinstance(index, int) or not 0 <= index < len(files):
                errors = FormErrors()
                errors.add((*prefix, "attachments"), "ATTACHMENT_NOT_FOUND", f"Attachment {index} not found")
                raise ApiError.invalid_form(errors)
            upload = files[index]
            attachment_id = self._snowflake()
            url = f"{self.base_url}/attachments/{msg.channel_id}/{attachment_id}/{upload.filename}"
            self._files[attachment_id] = upload.data
            result.append(
                {
                    "id": attachment_id,
                    "filename": item.get("filename") or upload.filename,
                    "size": len(upload.data),
                    "url": url,
                    "proxy_url": url,
                    "content_type": upload.content_type,
                    **({"description": item["description"]} if item.get("description") else {}),
                    **({"ephemeral": True} if msg.ephemeral else {}),
                }
            )
        return result

    def _apply_body(
        self,
        msg: FakeMessage,
        body: JSON,
        files: list[UploadedFile],
        channel: FakeChannel,
        prefix: tuple[str, ...] = (),
    ) -> None:
        """Apply a create/edit body to ``msg`` after validating it; raises ApiError like Discord.

        ``prefix`` nests field errors, e.g. under "data" for interaction callbacks.
        """
        errors = FormErrors()
        validate_message(body, errors, prefix)
        if errors:
            raise ApiError.invalid_form(errors)
        content = msg.content if "content" not in body else (body["content"] or "")
        embeds = msg.embeds if "embeds" not in body else list(body["embeds"] or [])
        components = msg.components if "components" not in body else list(body["components"] or [])
        attachments = self._attachments(msg, body, files, prefix)
        if not (content.strip() or embeds or components or attachments):
            raise ApiError(400, 50006, "Cannot send an empty message")
        msg.content, msg.embeds, msg.components, msg.attachments = content, embeds, components, attachments
        msg.files.extend(files)
        if "flags" in body:
            fixed = msg.flags & (MessageFlag.EPHEMERAL | MessageFlag.LOADING)
            msg.flags = fixed | ((body["flags"] or 0) & _SETTABLE_FLAGS)
        msg.tts = bool(body.get("tts", msg.tts))
        self._resolve_mentions(msg, channel, body.get("allowed_mentions"))

    def _can_read_content(self, msg: FakeMessage, *, intents: int) -> bool:
        """Whether the bot gets the content of ``msg`` (the MESSAGE_CONTENT rules)."""
        return bool(
            intents & Intent.MESSAGE_CONTENT
            or msg.author is self.bot_user
            or msg.guild_id is None
            or self.bot_user in msg.mentions
        )

    def _rest_message_json(self, msg: FakeMessage) -> JSON:
        """A message as REST returns it; content visibility follows the portal setting."""
        data = msg.to_json()
        return data if self._can_read_content(msg, intents=self.privileged_intents) else blank_content(data)

    async def _store_and_dispatch(self, msg: FakeMessage) -> None:
        self.messages[msg.id] = msg
        self.channels[msg.channel_id].last_message_id = msg.id
        await self._dispatch_message("MESSAGE_CREATE", msg)
        await self._notify()

    async def _dispatch_message(self, event: str, msg: FakeMessage) -> None:
        """Deliver a message event to the guild's shard(s)."""
        channel = self.channels[msg.channel_id]
        for session in self._sessions_for(channel.guild_id):
            await self._dispatch_message_to(session, event, msg, channel)

    async def _dispatch_message_to(
        self, session: _GatewaySession, event: str, msg: FakeMessage, channel: FakeChannel
    ) -> None:
        """Deliver a message event if Discord would: not ephemeral, right intent, visible channel."""
        if session.intents is None or msg.ephemeral:
            return
        needed = Intent.DIRECT_MESSAGES if channel.guild_id is None else Intent.GUILD_MESSAGES
        if not session.intents & needed or not self._bot_permissions(channel) & Permission.VIEW_CHANNEL:
            return
        if event == "MESSAGE_DELETE":
            data: JSON = {"id": msg.id, "channel_id": msg.channel_id}
        else:
            data = msg.to_json()
            if not self._can_read_content(msg, intents=session.intents):
                data = blank_content(data)
            guild = self.guilds.get(channel.guild_id or "")
            member = guild.members.get(msg.author.id) if guild and msg.webhook_id is None else None
            if member is not None:
                data["member"] = member.to_json(with_user=False)
        if channel.guild_id:
            data["guild_id"] = channel.guild_id
        await session.dispatch(event, data)

    # ------------------------------------------------------------------ HTTP plumbing

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if not request.path.startswith(API_PREFIX):
            return await handler(request)
        body, files = await self._read_body(request)
        path = request.path.removeprefix(API_PREFIX)
        record = RecordedRequest(request.method, path, dict(request.query), body, files)
        self.requests.append(record)
        request[_BODY], request[_FILES] = body, files
        try:
            # Webhook and interaction routes authenticate with the token in the path instead.
            needs_auth = not record.path.startswith(("/webhooks/", "/interactions/"))
            if needs_auth and request.headers.get("Authorization") != f"Bot {self.token}":
                raise ApiError(401, 0, "401: Unauthorized")
            response = await handler(request)
        except web.HTTPNotFound:
            response = self._api_error(record, ApiError(404, 0, "404: Not Found"))
        except web.HTTPMethodNotAllowed:
            response = self._api_error(record, ApiError(405, 0, "405: Method Not Allowed"))
        except ApiError as exc:
            response = self._api_error(record, exc)
        record.status = response.status
        return response

    def _api_error(self, record: RecordedRequest, exc: ApiError) -> web.Response:
        reason = f" ({exc.reason})" if exc.reason else ""
        self.violations.append(f"{record.method} {record.path} -> {exc.status} {json.dumps(exc.body())}{reason}")
        return _json_response(exc.body(), exc.status)

    @staticmethod
    async def _read_body(request: web.Request) -> tuple[Any, list[UploadedFile]]:
        """JSON body, or ``payload_json`` plus ``files[n]`` parts of a multipart body."""
        if request.content_type == "multipart/form-data":
            body: Any = None
            files: list[UploadedFile] = []
            reader = await request.multipart()
            async for part in reader:
                if not isinstance(part, BodyPartReader):
                    continue
                if part.name == "payload_json":
                    body = json.loads(await part.text())
                elif part.name and part.name.startswith("files["):
                    files.append(
                        UploadedFile(part.filename or "", bytes(await part.read()), part.headers.get("Content-Type"))
                    )
            return body, files
        raw = await request.read()
        return (json.loads(raw) if raw else None), []

    def _api_routes(self) -> list[tuple[str, str, Callable[[web.Request], Awaitable[web.StreamResponse]]]]:
        app = "/applications/{app_id}"
        hook = "/webhooks/{app_id}/{token}"
        return [
            ("GET", "/users/@me", self._get_me),
            ("GET", "/users/{user_id}", self._get_user),
            ("POST", "/users/@me/channels", self._create_dm),
            ("GET", "/oauth2/applications/@me", self._get_application),
            ("GET", "/applications/@me", self._get_application),
            ("GET", "/gateway", self._get_gateway),
            ("GET", "/gateway/bot", self._get_gateway),
            ("GET", app + "/commands", self._list_commands),
            ("PUT", app + "/commands", self._put_commands),
            ("POST", app + "/commands", self._upsert_command),
            ("GET", app + "/commands/{command_id}", self._get_command),
            ("PATCH", app + "/commands/{command_id}", self._edit_command),
            ("DELETE", app + "/commands/{command_id}", self._delete_command),
            ("GET", app + "/guilds/{guild_id}/commands", self._list_commands),
            ("PUT", app + "/guilds/{guild_id}/commands", self._put_commands),
            ("POST", app + "/guilds/{guild_id}/commands", self._upsert_command),
            ("GET", app + "/guilds/{guild_id}/commands/{command_id}", self._get_command),
            ("PATCH", app + "/guilds/{guild_id}/commands/{command_id}", self._edit_command),
            ("DELETE", app + "/guilds/{guild_id}/commands/{command_id}", self._delete_command),
            ("GET", "/guilds/{guild_id}", self._get_guild),
            ("GET", "/guilds/{guild_id}/channels", self._get_guild_channels),
            ("GET", "/guilds/{guild_id}/roles", self._get_guild_roles),
            ("GET", "/guilds/{guild_id}/members/{user_id}", self._get_member),
            ("GET", "/channels/{channel_id}", self._get_channel),
            ("GET", "/channels/{channel_id}/messages", self._get_messages),
            ("POST", "/channels/{channel_id}/messages", self._create_message),
            ("GET", "/channels/{channel_id}/messages/{message_id}", self._get_message),
            ("PATCH", "/channels/{channel_id}/messages/{message_id}", self._edit_message),
            ("DELETE", "/channels/{channel_id}/messages/{message_id}", self._delete_message),
            ("PUT", "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me", self._add_reaction),
            ("POST", "/channels/{channel_id}/messages/{message_id}/threads", self._start_thread),
            ("DELETE", "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me", self._remove_reaction),
            ("POST", "/channels/{channel_id}/typing", self._typing),
            ("POST", "/interactions/{interaction_id}/{token}/callback", self._interaction_callback),
            ("POST", hook, self._create_followup),
            ("GET", hook + "/messages/{message_id}", self._get_webhook_message),
            ("PATCH", hook + "/messages/{message_id}", self._edit_webhook_message),
            ("DELETE", hook + "/messages/{message_id}", self._delete_webhook_message),
        ]

    # ------------------------------------------------------------------ REST: users, app, gateway

    async def _get_me(self, request: web.Request) -> web.Response:
        return _json_response(
            {
                **self.bot_user.to_json(),
                "verified": True,
                "mfa_enabled": False,
                "email": None,
                "locale": "en-US",
                "bio": "",
            }
        )

    async def _get_user(self, request: web.Request) -> web.Response:
        user = self.users.get(request.match_info["user_id"])
        if user is None:
            raise ApiError(404, 10013, "Unknown User")
        return _json_response(user.to_json())

    async def _create_dm(self, request: web.Request) -> web.Response:
        user = self.users.get(str((request[_BODY] or {}).get("recipient_id")))
        if user is None or user.bot:
            raise ApiError(400, 50007, "Cannot send messages to this user")
        return _json_response(self.dm_channel(user).to_json())

    async def _get_application(self, request: web.Request) -> web.Response:
        return _json_response(
            {
                "id": self.application_id,
                "name": self.bot_user.username,
                "icon": None,
                "description": "",
                "summary": "",
                "type": None,
                "bot": self.bot_user.to_json(),
                "bot_public": True,
                "bot_require_code_grant": False,
                "verify_key": "0" * 64,
                "flags": self._application_flags(),
                "owner": self.owner.to_json(),
                "team": None,
                "rpc_origins": [],
                "redirect_uris": [],
                "interactions_endpoint_url": None,
                "role_connections_verification_url": None,
                "approximate_guild_count": len(self.guilds),
                "integration_types_config": {"0": {}},
                "tags": [],
            }
        )

    def _application_flags(self) -> int:
        flags = _APPLICATION_COMMAND_BADGE
        for intent, flag in _LIMITED_FLAGS.items():
            if self.privileged_intents & intent:
                flags |= flag
        return flags

    async def _get_gateway(self, request: web.Request) -> web.Response:
        return _json_response(
            {
                "url": self.gateway_url.rstrip("/"),
                "shards": self.recommended_shards,
                "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 14400000, "max_concurrency": 1},
            }
        )

    # ------------------------------------------------------------------ REST: application commands

    def _command_scope(self, request: web.Request) -> dict[str, JSON]:
        if request.match_info["app_id"] != self.application_id:
            raise ApiError(403, 50001, "Missing Access")
        guild_id = request.match_info.get("guild_id")
        if guild_id is not None and guild_id not in self.guilds:
            raise ApiError(403, 50001, "Missing Access")
        return self.commands.setdefault(guild_id, {})

    @staticmethod
    def _same_command(scope: Mapping[str, JSON], body: JSON) -> JSON | None:
        kind = body.get("type", 1)
        return next((c for c in scope.values() if c["name"] == body["name"] and c["type"] == kind), None)

    def _store_command(self, scope: dict[str, JSON], body: JSON, guild_id: str | None, existing: JSON | None) -> JSON:
        """Store ``body`` as a command, replacing ``existing`` (whose id it keeps, as Discord does)."""
        errors = FormErrors()
        validate_commands([body], errors)
        if errors:
            raise ApiError.invalid_form(errors)
        perms = body.get("default_member_permissions")
        cmd: JSON = {
            "id": existing["id"] if existing else self._snowflake(),
            "application_id": self.application_id,
            "version": self._snowflake(),
            "default_member_permissions": None if perms is None else str(perms),
            "type": body.get("type", 1),
            "name": body["name"],
            "name_localizations": body.get("name_localizations"),
            "description": body.get("description", ""),
            "description_localizations": body.get("description_localizations"),
            "contexts": body.get("contexts"),
            "integration_types": body.get("integration_types") or [0],
            "nsfw": bool(body.get("nsfw", False)),
        }
        if body.get("options"):
            cmd["options"] = body["options"]
        if guild_id is None:
            cmd["dm_permission"] = body.get("dm_permission", True)
        else:
            cmd["guild_id"] = guild_id
        scope[cmd["id"]] = cmd
        return cmd

    async def _list_commands(self, request: web.Request) -> web.Response:
        return _json_response(list(self._command_scope(request).values()))

    async def _put_commands(self, request: web.Request) -> web.Response:
        """Bulk overwrite: the body becomes the whole set; surviving commands keep their ids."""
        scope = self._command_scope(request)
        body: list[JSON] = request[_BODY]
        errors = FormErrors()
        validate_commands(body, errors)
        if errors:
            raise ApiError.invalid_form(errors)
        previous = dict(scope)
        scope.clear()
        for item in body:
            self._store_command(scope, item, request.match_info.get("guild_id"), self._same_command(previous, item))
        await self._notify()
        return _json_response(list(scope.values()))

    async def _upsert_command(self, request: web.Request) -> web.Response:
        scope = self._command_scope(request)
        existing = self._same_command(scope, request[_BODY])
        cmd = self._store_command(scope, request[_BODY], request.match_info.get("guild_id"), existing)
        await self._notify()
        return _json_response(cmd, 200 if existing else 201)

    def _find_command(self, request: web.Request) -> tuple[dict[str, JSON], JSON]:
        scope = self._command_scope(request)
        cmd = scope.get(request.match_info["command_id"])
        if cmd is None:
            raise ApiError(404, 10063, "Unknown application command")
        return scope, cmd

    async def _get_command(self, request: web.Request) -> web.Response:
        return _json_response(self._find_command(request)[1])

    async def _edit_command(self, request: web.Request) -> web.Response:
        scope, cmd = self._find_command(request)
        updated = self._store_command(scope, {**cmd, **request[_BODY]}, request.match_info.get("guild_id"), cmd)
        await self._notify()
        return _json_response(updated)

    async def _delete_command(self, request: web.Request) -> web.Response:
        scope, cmd = self._find_command(request)
        del scope[cmd["id"]]
        return web.Response(status=204)

    # ------------------------------------------------------------------ REST: guilds and channels

    def _guild(self, request: web.Request) -> FakeGuild:
        guild = self.guilds.get(request.match_info["guild_id"])
        if guild is None:
            raise ApiError(404, 10004, "Unknown Guild")
        return guild

    async def _get_guild(self, request: web.Request) -> web.Response:
        guild = self._guild(request)
        data = guild.to_json(members=[])
        for key in (
            "members",
            "channels",
            "threads",
            "presences",
            "voice_states",
            "joined_at",
            "large",
            "unavailable",
            "member_count",
        ):
            data.pop(key)
        return _json_response(data)

    async def _get_guild_channels(self, request: web.Request) -> web.Response:
        return _json_response([c.to_json() for c in self._guild(request).channels.values()])

    async def _get_guild_roles(self, request: web.Request) -> web.Response:
        return _json_response([r.to_json() for r in self._guild(request).roles.values()])

    async def _get_member(self, request: web.Request) -> web.Response:
        member = self._guild(request).members.get(request.match_info["user_id"])
        if member is None:
            raise ApiError(404, 10007, "Unknown Member")
        return _json_response(member.to_json())

    def _channel(self, request: web.Request, *needed: Permission) -> FakeChannel:
        """The route's channel, if the bot can see it and holds ``needed`` there (else 403 like Discord)."""
        channel = self.channels.get(request.match_info["channel_id"])
        if channel is None:
            raise ApiError(404, 10003, "Unknown Channel")
        perms = self._bot_permissions(channel)
        if not perms & Permission.VIEW_CHANNEL:
            raise ApiError(403, 50001, "Missing Access")
        missing = [str(p.name) for p in needed if not perms & p]
        if missing:
            raise ApiError(403, 50013, "Missing Permissions", reason=f"bot lacks {', '.join(missing)}")
        return channel

    def _channel_message(self, request: web.Request, channel: FakeChannel) -> FakeMessage:
        msg = self.messages.get(request.match_info["message_id"])
        if msg is None or msg.deleted or msg.ephemeral or msg.channel_id != channel.id:
            raise _unknown_message()
        return msg

    async def _get_channel(self, request: web.Request) -> web.Response:
        return _json_response(self._channel(request).to_json())

    async def _get_messages(self, request: web.Request) -> web.Response:
        channel = self._channel(request, Permission.READ_MESSAGE_HISTORY)
        limit = int(request.query.get("limit", 50))
        before, after = request.query.get("before"), request.query.get("after")
        found = [
            m
            for m in self.messages.values()
            if m.channel_id == channel.id
            and not m.deleted
            and not m.ephemeral
            and (before is None or int(m.id) < int(before))
            and (after is None or int(m.id) > int(after))
        ]
        found.sort(key=lambda m: int(m.id), reverse=True)
        return _json_response([self._rest_message_json(m) for m in found[:limit]])

    async def _get_message(self, request: web.Request) -> web.Response:
        channel = self._channel(request, Permission.READ_MESSAGE_HISTORY)
        return _json_response(self._rest_message_json(self._channel_message(request, channel)))

    def _post_rate(self, channel: FakeChannel) -> dict[str, str] | web.Response:
        """The X-RateLimit headers of a post in `channel` under `message_rate`, or the 429 past it."""
        if self.message_rate is None:
            return {}
        limit, per = self.message_rate
        now = asyncio.get_running_loop().time()
        start, posts = self._post_windows.get(channel.id, (now, 0))
        if now >= start + per:
            start, posts = now, 0
        reset_after = f"{math.ceil((start + per - now) * 1000) / 1000:.3f}"  # rounded up: never early
        if posts >= limit:
            self.violations.append(f"POST /channels/{channel.id}/messages -> 429 past {limit} posts per {per}s")
            return _json_response(
                {"message": "You are being rate limited.", "retry_after": float(reset_after), "global": False},
                429,
                {"Via": "1.1 google", "Retry-After": reset_after},
            )
        self._post_windows[channel.id] = (start, posts + 1)
        return {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(limit - posts - 1),
            "X-RateLimit-Reset-After": reset_after,
            "X-RateLimit-Bucket": f"messages-{channel.id}",
        }

    async def _create_message(self, request: web.Request) -> web.Response:
        channel = self._channel(request, Permission.SEND_MESSAGES)
        rate = self._post_rate(channel)
        if isinstance(rate, web.Response):
            return rate
        body: JSON = request[_BODY] or {}
        reference = body.get("message_reference")
        referenced = None
        if reference:
            referenced = self.messages.get(str(reference.get("message_id")))
            if referenced is None or referenced.deleted:
                if reference.get("fail_if_not_exists", True):
                    errors = FormErrors()
                    errors.add(("message_reference",), "MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "Unknown message")
                    raise ApiError.invalid_form(errors)
                referenced = None
        msg = FakeMessage(
            self._snowflake(),
            channel.id,
            channel.guild_id,
            self.bot_user,
            referenced=referenced,
            type=MessageType.REPLY if referenced else MessageType.DEFAULT,
            nonce=body.get("nonce"),
            flags=(body.get("flags") or 0) & _SETTABLE_FLAGS,
            sent=body,
        )
        if body.get("embeds") and not self._bot_permissions(channel) & Permission.EMBED_LINKS:
            # Discord drops the embeds of a bot without Embed Links; a message of embeds alone is then empty (50006).
            body = {key: value for key, value in body.items() if key != "embeds"}
        self._apply_body(msg, body, request[_FILES], channel)
        await self._store_and_dispatch(msg)
        return _json_response(msg.to_json(), headers=rate)

    async def _edit_message(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        msg = self._channel_message(request, channel)
        if msg.author is not self.bot_user:
            raise ApiError(403, 50005, "Cannot edit a message authored by another user")
        self._apply_body(msg, request[_BODY] or {}, request[_FILES], channel)
        msg.edits.append(request[_BODY] or {})
        msg.edited_timestamp = iso_now()
        await self._dispatch_message("MESSAGE_UPDATE", msg)
        await self._notify()
        return _json_response(msg.to_json())

    async def _delete_message(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        msg = self._channel_message(request, channel)
        if msg.author is not self.bot_user and not self._bot_permissions(channel) & Permission.MANAGE_MESSAGES:
            raise ApiError(403, 50013, "Missing Permissions")
        msg.deleted = True
        await self._dispatch_message("MESSAGE_DELETE", msg)
        await self._notify()
        return web.Response(status=204)

    async def _start_thread(self, request: web.Request) -> web.Response:
        """A public thread from a message: its id is the message's, and the bot owns it (THREAD_CREATE)."""
        channel = self._channel(request, Permission.CREATE_PUBLIC_THREADS)
        msg = self._channel_message(request, channel)
        name = str((request[_BODY] or {}).get("name") or "")
        if not 1 <= len(name) <= 100:
            errors = FormErrors()
            errors.add(("name",), "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
            raise ApiError.invalid_form(errors)
        if msg.id in self.channels:
            raise ApiError(400, 160004, "A thread has already been created for this message")
        thread = FakeChannel(
            msg.id, ChannelType.PUBLIC_THREAD, name, channel.guild_id, parent_id=channel.id, owner_id=self.bot_user.id
        )
        self.channels[thread.id] = thread
        self.threads.append(thread)
        for session in self._sessions_for(thread.guild_id):
            await session.dispatch("THREAD_CREATE", {**thread.to_json(), "newly_created": True})
        await self._notify()
        return _json_response(thread.to_json(), status=201)

    async def _add_reaction(self, request: web.Request) -> web.Response:
        channel = self._channel(request, Permission.READ_MESSAGE_HISTORY, Permission.ADD_REACTIONS)
        msg = self._channel_message(request, channel)
        emoji = request.match_info["emoji"]
        if emoji not in msg.reactions:
            msg.reactions.append(emoji)
        await self._notify()
        return web.Response(status=204)

    async def _remove_reaction(self, request: web.Request) -> web.Response:
        msg = self._channel_message(request, self._channel(request))
        emoji = request.match_info["emoji"]
        if emoji in msg.reactions:
            msg.reactions.remove(emoji)
        await self._notify()
        return web.Response(status=204)

    async def _typing(self, request: web.Request) -> web.Response:
        channel = self._channel(request, Permission.SEND_MESSAGES)
        self.typing.append(channel.id)
        await self._notify()
        return web.Response(status=204)

    async def _get_attachment(self, request: web.Request) -> web.Response:
        data = self._files.get(request.match_info["attachment_id"])
        if data is None:
            raise web.HTTPNotFound()
        return web.Response(body=data)

    # ------------------------------------------------------------------ REST: interactions and webhooks

    def _interaction_message(self, interaction: FakeInteraction, body: JSON, *, loading: bool = False) -> FakeMessage:
        """A new message owned by the interaction's webhook (response or followup)."""
        is_command = interaction.type is InteractionType.APPLICATION_COMMAND
        flags = (body.get("flags") or 0) & (_SETTABLE_FLAGS | MessageFlag.EPHEMERAL)
        return FakeMessage(
            self._snowflake(),
            interaction.channel.id,
            interaction.channel.guild_id,
            self.bot_user,
            type=MessageType.CHAT_INPUT_COMMAND if is_command else MessageType.DEFAULT,
            flags=flags | (MessageFlag.LOADING if loading else 0),
            webhook_id=self.application_id,
            application_id=self.application_id,
            interaction_metadata={
                "id": interaction.id,
                "type": int(interaction.type),
                "name": interaction.name,
                "user": interaction.user.to_json(),
                "authorizing_integration_owners": interaction.payload["authorizing_integration_owners"],
            },
            sent=body,
        )

    async def _interaction_callback(self, request: web.Request) -> web.Response:
        interaction = self.interactions.get(request.match_info["interaction_id"])
        if interaction is None or interaction.token != request.match_info["token"]:
            raise ApiError(404, 10062, "Unknown interaction")
        body: JSON = request[_BODY] or {}
        loop_time = asyncio.get_running_loop().time()
        callback = Callback(
            body.get("type", 0), body.get("data") or {}, loop_time - interaction.dispatched_at, request[_FILES]
        )
        interaction.callbacks.append(callback)
        try:
            result = await self._apply_callback(interaction, callback)
        except ApiError as exc:
            callback.status = exc.status
            await self._notify()
            raise
        callback.status = 200 if request.query.get("with_response") in ("1", "true", "True") else 204
        await self._notify()
        return _json_response(result) if callback.status == 200 else web.Response(status=204)

    async def _apply_callback(self, interaction: FakeInteraction, callback: Callback) -> JSON:
        """Acknowledge ``interaction`` with ``callback`` or raise the error Discord would."""
        if any(c.accepted for c in interaction.callbacks if c is not callback):
            raise ApiError(
                400,
                40060,
                "Interaction has already been acknowledged.",
                reason=f"second response to {interaction.name!r}",
            )
        if callback.after > self.response_deadline:
            raise ApiError(
                404,
                10062,
                "Unknown interaction",
                reason=(
                    f"first response to {interaction.name!r} after {callback.after:.2f}s; "
                    f"Discord allows {self.response_deadline}s"
                ),
            )
        if callback.type not in _VALID_CALLBACKS[interaction.type]:
            errors = FormErrors()
            errors.add(
                ("type",),
                "INTERACTION_CALLBACK_TYPE_INVALID",
                f"Callback type {callback.type} is invalid for interaction type {int(interaction.type)}",
            )
            raise ApiError.invalid_form(errors)
        # Mark as acknowledged before any await so a concurrent second callback is refused.
        callback.status = 200
        try:
            return await self._callback_result(interaction, callback)
        except ApiError:
            callback.status = 0
            raise

    async def _callback_result(self, interaction: FakeInteraction, callback: Callback) -> JSON:
        kind = callback.type
        summary: JSON = {"id": interaction.id, "type": int(interaction.type)}
        if kind == CallbackType.APPLICATION_COMMAND_AUTOCOMPLETE_RESULT:
            errors = FormErrors()
            validate_choices(callback.data, errors)
            if errors:
                raise ApiError.invalid_form(errors)
            return {"interaction": summary}
        if kind == CallbackType.MODAL:
            return {"interaction": summary}
        if kind in (CallbackType.DEFERRED_UPDATE_MESSAGE, CallbackType.UPDATE_MESSAGE):
            msg = interaction.source_message
            assert msg is not None  # only component interactions allow these types
            if kind == CallbackType.UPDATE_MESSAGE:
                self._apply_body(msg, callback.data, callback.files, interaction.channel, ("data",))
            interaction.original = msg
            if kind == CallbackType.DEFERRED_UPDATE_MESSAGE:
                return {"interaction": summary}
            msg.edits.append(callback.data)
            msg.edited_timestamp = iso_now()
            await self._dispatch_message("MESSAGE_UPDATE", msg)
            return {"interaction": summary, "resource": {"type": kind, "message": msg.to_json()}}
        loading = kind == CallbackType.DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE
        msg = self._interaction_message(interaction, callback.data, loading=loading)
        if not loading:
            self._apply_body(msg, callback.data, callback.files, interaction.channel, ("data",))
        interaction.original = msg
        await self._store_and_dispatch(msg)
        summary |= {
            "response_message_id": msg.id,
            "response_message_loading": loading,
            "response_message_ephemeral": msg.ephemeral,
        }
        if loading:
            return {"interaction": summary}
        return {"interaction": summary, "resource": {"type": kind, "message": msg.to_json()}}

    def _webhook_interaction(self, request: web.Request) -> FakeInteraction:
        """The interaction behind a webhook route's token, if its webhook is usable yet/still."""
        if request.match_info["app_id"] != self.application_id:
            raise _unknown_webhook()
        token = request.match_info["token"]
        interaction = next((i for i in self.interactions.values() if i.token == token), None)
        loop_time = asyncio.get_running_loop().time()
        if interaction is None:
            raise ApiError(401, 50027, "Invalid Webhook Token")
        if loop_time - interaction.dispatched_at > self.token_lifetime:
            raise ApiError(401, 50027, "Invalid Webhook Token", reason=f"token of {interaction.name!r} expired")
        if interaction.response is None:
            # The webhook only exists once the interaction was acknowledged.
            raise _unknown_webhook(f"interaction {interaction.name!r} used before it was acknowledged")
        return interaction

    def _webhook_message(self, request: web.Request, interaction: FakeInteraction) -> FakeMessage:
        message_id = request.match_info["message_id"]
        if message_id == "@original":
            msg = interaction.original
        else:
            msg = next((m for m in interaction.followups if m.id == message_id), None)
            if msg is None and interaction.original is not None and interaction.original.id == message_id:
                msg = interaction.original
        if msg is None or msg.deleted:
            raise _unknown_message()
        return msg

    async def _create_followup(self, request: web.Request) -> web.Response:
        interaction = self._webhook_interaction(request)
        body: JSON = request[_BODY] or {}
        original = interaction.original
        if original is not None and original.loading and not original.deleted:
            # The first followup after a deferred response replaces the "thinking..." message,
            # keeping the ephemerality chosen when deferring (once deleted, there is none to replace).
            msg = original
            self._apply_body(msg, body, request[_FILES], interaction.channel)
            msg.flags &= ~MessageFlag.LOADING
            msg.edits.append(body)
            await self._dispatch_message("MESSAGE_UPDATE", msg)
        else:
            msg = self._interaction_message(interaction, body)
            self._apply_body(msg, body, request[_FILES], interaction.channel)
            await self._store_and_dispatch(msg)
        interaction.followups.append(msg)
        await self._notify()
        if request.query.get("wait") in ("1", "true", "True"):
            return _json_response(msg.to_json())
        return web.Response(status=204)

    async def _get_webhook_message(self, request: web.Request) -> web.Response:
        interaction = self._webhook_interaction(request)
        return _json_response(self._webhook_message(request, interaction).to_json())

    async def _edit_webhook_message(self, request: web.Request) -> web.Response:
        interaction = self._webhook_interaction(request)
        msg = self._webhook_message(request, interaction)
        body: JSON = request[_BODY] or {}
        self._apply_body(msg, body, request[_FILES], interaction.channel)
        msg.edits.append(body)
        if msg.loading:
            msg.flags &= ~MessageFlag.LOADING
        else:
            msg.edited_timestamp = iso_now()
        await self._dispatch_message("MESSAGE_UPDATE", msg)
        await self._notify()
        return _json_response(msg.to_json())

    async def _delete_webhook_message(self, request: web.Request) -> web.Response:
        interaction = self._webhook_interaction(request)
        msg = self._webhook_message(request, interaction)
        msg.deleted = True
        await self._dispatch_message("MESSAGE_DELETE", msg)
        await self._notify()
        return web.Response(status=204)

    # ------------------------------------------------------------------ gateway

    async def _gateway(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._sockets.add(ws)
        self.gateway_queries.append(dict(request.query))
        session = _GatewaySession(ws, self._snowflake(), compress=request.query.get("compress") == "zlib-stream")
        try:
            if request.query.get("v") != "10" or request.query.get("encoding", "json") != "json":
                await self._close_gateway(ws, 4012, f"Invalid API version or encoding: {dict(request.query)}")
                return ws
            await session.send(10, {"heartbeat_interval": self.heartbeat_interval_ms})
            async for frame in ws:
                if frame.type is not WSMsgType.TEXT:
                    continue
                try:
                    message = json.loads(frame.data)
                except json.JSONDecodeError:
                    await self._close_gateway(ws, 4002, "Error while decoding payload.")
                    break
                await self._gateway_op(session, message)
        finally:
            self._sockets.discard(ws)
            if self._sessions.get(session.shard) is session:
                del self._sessions[session.shard]
                await self._notify()  # for tests waiting until a client (or a killed process) is gone
        return ws

    async def _close_gateway(self, ws: web.WebSocketResponse, code: int, reason: str) -> None:
        self.violations.append(f"gateway closed with {code}: {reason}")
        await ws.close(code=code, message=reason.encode()[:120])

    async def _gateway_op(self, session: _GatewaySession, message: JSON) -> None:
        op, data = message.get("op"), message.get("d")
        if op == 1:
            self.heartbeats.append(asyncio.get_running_loop().time())
            await session.send(11, None)
            await self._notify()
        elif op == 2:
            await self._identify(session, data or {})
        elif session.intents is None:
            await self._close_gateway(session.ws, 4003, f"Not authenticated (op {op} before IDENTIFY)")
        elif op == 3:
            self.presence_updates.append(data or {})
            await self._notify()
        elif op == 6:
            await session.send(9, False)  # sessions are not resumable here: the client re-identifies
        elif op == 8:
            await self._send_member_chunk(session, data or {})
        else:
            await self._close_gateway(session.ws, 4001, f"Unknown opcode {op}")

    async def _identify(self, session: _GatewaySession, data: JSON) -> None:
        intents = data.get("intents")
        if session.intents is not None:
            await self._close_gateway(session.ws, 4005, "Already authenticated.")
        elif data.get("token") != self.token:
            await self._close_gateway(session.ws, 4004, "Authentication failed.")
        elif not isinstance(intents, int):
            await self._close_gateway(session.ws, 4013, "Invalid intent(s).")
        elif intents & PRIVILEGED_INTENTS & ~self.privileged_intents:
            await self._close_gateway(session.ws, 4014, "Disallowed intent(s).")
        elif not _valid_shard(data.get("shard", [0, 1])):
            await self._close_gateway(session.ws, 4010, f"Invalid shard: {data.get('shard')!r}")
        else:
            session.intents = intents
            session.shard = tuple(data.get("shard", [0, 1]))  # type: ignore[assignment]  # checked above
            session.sharded = "shard" in data
            self.identify = data
            self._sessions.pop(session.shard, None)  # re-inserted: the dict keeps the order of identification
            self._sessions[session.shard] = session
            await self._send_ready(session)

    async def _send_ready(self, session: _GatewaySession) -> None:
        intents = session.intents or 0
        guilds = [guild for guild in self.guilds.values() if session.serves(guild.id)]
        shard: JSON = {"shard": list(session.shard)} if session.sharded else {}
        await session.dispatch(
            "READY",
            {
                **shard,
                "v": 10,
                "user": {**self.bot_user.to_json(), "verified": True, "mfa_enabled": False, "email": None},
                "guilds": [{"id": g.id, "unavailable": True} for g in guilds],
                "session_id": session.session_id,
                "session_type": "normal",
                "resume_gateway_url": self.gateway_url,
                "application": {"id": self.application_id, "flags": self._application_flags()},
                "private_channels": [],
                "relationships": [],
                "presences": [],
                "guild_join_requests": [],
                "geo_ordered_rtc_regions": ["fake"],
                "user_settings": {},
                "auth": {},
            },
        )
        if intents & Intent.GUILDS:
            for guild in guilds:
                # Without GUILD_MEMBERS Discord only includes the bot's own member.
                members = [
                    m for m in guild.members.values() if intents & Intent.GUILD_MEMBERS or m.user is self.bot_user
                ]
                data = guild.to_json(members=members)
                # As Discord does: the guild's active threads, so a restarted bot knows its own.
                data["threads"] = [t.to_json() for t in self.threads if t.guild_id == guild.id]
                await session.dispatch("GUILD_CREATE", data)
        self.ready_shards.append(session.shard)
        self._ready.set()
        await self._notify()

    async def _send_member_chunk(self, session: _GatewaySession, data: JSON) -> None:
        guild = self.guilds.get(str(data.get("guild_id")))
        if guild is None or not session.serves(guild.id):
            return
        query = (data.get("query") or "").lower()
        user_ids = {str(u) for u in data.get("user_ids") or []}
        members = [
            m
            for m in guild.members.values()
            if m.user.username.lower().startswith(query) and (not user_ids or m.id in user_ids)
        ]
        limit = data.get("limit") or len(members)
        chunk: JSON = {
            "guild_id": guild.id,
            "members": [m.to_json() for m in members[:limit]],
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": sorted(user_ids - {m.id for m in members}),
        }
        if data.get("nonce"):
            chunk["nonce"] = data["nonce"]
        await session.dispatch("GUILD_MEMBERS_CHUNK", chunk)


# ---------------------------------------------------------------------- discord.py glue


def point_discord_py_at(api_url: str, gateway_url: str) -> tuple[str, yarl.URL]:
    """Send discord.py's REST calls to ``api_url`` and its gateway connections to ``gateway_url`` (a fake's
    ``api_url`` and ``gateway_url``, also from another process); returns the previous pair."""
    route, websocket = discord.http.Route, discord.gateway.DiscordWebSocket
    previous = route.BASE, websocket.DEFAULT_GATEWAY
    route.BASE = api_url
    websocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)
    return previous


@contextlib.contextmanager
def patch_discord_py(fake: FakeDiscord) -> Iterator[None]:
    """Point discord.py's REST base and default gateway at ``fake``; restore them afterwards."""
    old_base, old_gateway = point_discord_py_at(fake.api_url, fake.gateway_url)
    try:
        yield
    finally:
        discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = old_base, old_gateway


async def _stop_client(client: discord.Client, task: asyncio.Task[None] | None) -> BaseException | None:
    """Close the client and return what its gateway task died of, if anything."""
    await client.close()
    if task is None:
        return None
    await asyncio.wait({task})
    return None if task.cancelled() else task.exception()


@contextlib.asynccontextmanager
async def running_client(fake: FakeDiscord, client: discord.Client, *, timeout: float = 10.0) -> AsyncIterator[None]:
    """Log ``client`` in to ``fake`` and run its gateway until it is ready; close it afterwards.

    discord.py must already point at ``fake`` (see patch_discord_py). Give the client a small
    ``guild_ready_timeout`` (e.g. 0.1): it waits that long after the last GUILD_CREATE before
    on_ready. A crash of the gateway loop during the block is re-raised on exit.
    """
    task: asyncio.Task[None] | None = None
    try:
        await client.login(fake.token)
        task = asyncio.create_task(client.connect(), name="discord.py gateway")
        ready = asyncio.create_task(client.wait_until_ready())
        done, _ = await asyncio.wait({task, ready}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if ready not in done:
            ready.cancel()
            if task in done:
                task.result()  # re-raises why the gateway connection ended
            raise AssertionError(f"client not ready within {timeout}s; violations: {fake.violations}")
        yield
    except BaseException:
        await _stop_client(client, task)
        raise
    error = await _stop_client(client, task)
    if error is not None:
        raise error
