"""Records of Discord objects for the fake Discord server, and the JSON Discord sends for them.

Shapes follow Discord's API v10 (see discord-api-spec's openapi.json) closely enough that
discord.py 2.7 parses them exactly as it parses the real thing.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
import time
from dataclasses import dataclass, field
from typing import Any

JSON = dict[str, Any]

DISCORD_EPOCH_MS = 1_420_070_400_000


class SnowflakeFactory:
    """Makes unique, increasing snowflake strings stamped with the current time, like Discord's."""

    def __init__(self) -> None:
        self._last = 0

    def __call__(self) -> str:
        now = (int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22
        self._last = max(now, self._last + 1)
        return str(self._last)

    def for_shard(self, shard_id: int, shard_count: int) -> str:
        """The next snowflake whose guild events go to shard ``shard_id`` of ``shard_count``, that is with
        ``(id >> 22) % shard_count == shard_id``: its timestamp moved at most ``shard_count - 1`` ms ahead."""
        stamp = int(self()) >> 22
        ahead = (shard_id - stamp) % shard_count
        self._last = max(self._last, (stamp + ahead) << 22)
        return str(self._last)


def iso_now() -> str:
    """The current time in the ISO 8601 form Discord uses for timestamps."""
    return dt.datetime.now(dt.UTC).isoformat()


class Permission(enum.IntFlag):
    """Permission bits the fake looks at (Discord has more; unknown bits pass through untouched)."""

    CREATE_INSTANT_INVITE = 1 << 0
    ADMINISTRATOR = 1 << 3
    MANAGE_GUILD = 1 << 5
    ADD_REACTIONS = 1 << 6
    VIEW_CHANNEL = 1 << 10
    SEND_MESSAGES = 1 << 11
    SEND_TTS_MESSAGES = 1 << 12
    MANAGE_MESSAGES = 1 << 13
    EMBED_LINKS = 1 << 14
    ATTACH_FILES = 1 << 15
    READ_MESSAGE_HISTORY = 1 << 16
    MENTION_EVERYONE = 1 << 17
    USE_EXTERNAL_EMOJIS = 1 << 18
    USE_APPLICATION_COMMANDS = 1 << 31
    CREATE_PUBLIC_THREADS = 1 << 35
    SEND_MESSAGES_IN_THREADS = 1 << 38


ALL_PERMISSIONS = (1 << 51) - 1

# What a new server's @everyone role gets.
DEFAULT_EVERYONE_PERMISSIONS = (
    Permission.CREATE_INSTANT_INVITE
    | Permission.VIEW_CHANNEL
    | Permission.SEND_MESSAGES
    | Permission.SEND_MESSAGES_IN_THREADS
    | Permission.CREATE_PUBLIC_THREADS
    | Permission.EMBED_LINKS
    | Permission.ATTACH_FILES
    | Permission.ADD_REACTIONS
    | Permission.USE_EXTERNAL_EMOJIS
    | Permission.READ_MESSAGE_HISTORY
    | Permission.USE_APPLICATION_COMMANDS
)

# What a typical invite link grants the bot's managed role.
DEFAULT_BOT_PERMISSIONS = (
    Permission.VIEW_CHANNEL
    | Permission.SEND_MESSAGES
    | Permission.SEND_MESSAGES_IN_THREADS
    | Permission.CREATE_PUBLIC_THREADS
    | Permission.EMBED_LINKS
    | Permission.ATTACH_FILES
    | Permission.READ_MESSAGE_HISTORY
    | Permission.ADD_REACTIONS
    | Permission.USE_EXTERNAL_EMOJIS
)

# Without these in a channel, Discord treats the dependent permissions as denied too.
_NEEDS_SEND = (
    Permission.SEND_TTS_MESSAGES | Permission.MENTION_EVERYONE | Permission.ATTACH_FILES | Permission.EMBED_LINKS
)


class Intent(enum.IntFlag):
    """Gateway intent bits the fake honours."""

    GUILDS = 1 << 0
    GUILD_MEMBERS = 1 << 1
    GUILD_PRESENCES = 1 << 8
    GUILD_MESSAGES = 1 << 9
    DIRECT_MESSAGES = 1 << 12
    MESSAGE_CONTENT = 1 << 15


PRIVILEGED_INTENTS = Intent.GUILD_MEMBERS | Intent.GUILD_PRESENCES | Intent.MESSAGE_CONTENT


class MessageFlag(enum.IntFlag):
    """Message flag bits the fake looks at."""

    SUPPRESS_EMBEDS = 1 << 2
    EPHEMERAL = 1 << 6
    LOADING = 1 << 7
    SUPPRESS_NOTIFICATIONS = 1 << 12
    IS_COMPONENTS_V2 = 1 << 15


class ChannelType(enum.IntEnum):
    GUILD_TEXT = 0
    DM = 1
    PUBLIC_THREAD = 11


class MessageType(enum.IntEnum):
    DEFAULT = 0
    REPLY = 19
    CHAT_INPUT_COMMAND = 20


class InteractionType(enum.IntEnum):
    PING = 1
    APPLICATION_COMMAND = 2
    MESSAGE_COMPONENT = 3
    APPLICATION_COMMAND_AUTOCOMPLETE = 4
    MODAL_SUBMIT = 5


class CallbackType(enum.IntEnum):
    PONG = 1
    CHANNEL_MESSAGE_WITH_SOURCE = 4
    DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE = 5
    DEFERRED_UPDATE_MESSAGE = 6
    UPDATE_MESSAGE = 7
    APPLICATION_COMMAND_AUTOCOMPLETE_RESULT = 8
    MODAL = 9


class OptionType(enum.IntEnum):
    SUB_COMMAND = 1
    SUB_COMMAND_GROUP = 2
    STRING = 3
    INTEGER = 4
    BOOLEAN = 5
    USER = 6
    CHANNEL = 7
    ROLE = 8
    MENTIONABLE = 9
    NUMBER = 10
    ATTACHMENT = 11


class ComponentType(enum.IntEnum):
    ACTION_ROW = 1
    BUTTON = 2
    STRING_SELECT = 3


# ---------------------------------------------------------------------------
# Records
# ---------------------------------------------------------------------------


@dataclass(eq=False)
class FakeUser:
    """A Discord user (or bot account)."""

    id: str
    username: str
    bot: bool = False
    global_name: str | None = None

    @property
    def mention(self) -> str:
        return f"<@{self.id}>"

    def to_json(self) -> JSON:
        return {
            "id": self.id,
            "username": self.username,
            "discriminator": "0",
            "global_name": self.global_name,
            "avatar": None,
            "bot": self.bot,
            "system": False,
            "public_flags": 0,
            "flags": 0,
            "banner": None,
            "accent_color": None,
            "avatar_decoration_data": None,
            "collectibles": None,
            "primary_guild": None,
        }


@dataclass(eq=False)
class FakeRole:
    """A guild role; the @everyone role shares the guild's id."""

    id: str
    guild_id: str
    name: str
    permissions: int
    position: int
    managed: bool = False
    mentionable: bool = False
    bot_id: str | None = None

    @property
    def mention(self) -> str:
        return f"<@&{self.id}>"

    def to_json(self) -> JSON:
        data: JSON = {
            "id": self.id,
            "name": self.name,
            "permissions": str(self.permissions),
            "position": self.position,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "managed": self.managed,
            "mentionable": self.mentionable,
            "icon": None,
            "unicode_emoji": None,
            "flags": 0,
        }
        if self.bot_id is not None:
            data["tags"] = {"bot_id": self.bot_id}
        return data


@dataclass(frozen=True)
class Overwrite:
    """Channel permission overwrite for a role or a member."""

    allow: int = 0
    deny: int = 0


@dataclass(eq=False)
class FakeChannel:
    """A guild text channel or a DM channel."""

    id: str
    type: ChannelType
    name: str | None = None
    guild_id: str | None = None
    position: int = 0
    topic: str | None = None
    nsfw: bool = False
    # target id -> (target type: 0 role / 1 member, overwrite)
    overwrites: dict[str, tuple[int, Overwrite]] = field(default_factory=dict)
    recipients: list[FakeUser] = field(default_factory=list)
    last_message_id: str | None = None
    #: Threads: the channel they are in, and who started them.
    parent_id: str | None = None
    owner_id: str | None = None

    @property
    def mention(self) -> str:
        return f"<#{self.id}>"

    def to_json(self) -> JSON:
        if self.type is ChannelType.DM:
            return {
                "id": self.id,
                "type": int(self.type),
                "last_message_id": self.last_message_id,
                "flags": 0,
                "recipients": [u.to_json() for u in self.recipients],
            }
        return {
            "id": self.id,
            "type": int(self.type),
            "guild_id": self.guild_id,
            "name": self.name,
            "position": self.position,
            "permission_overwrites": [
                {"id": target, "type": kind, "allow": str(ow.allow), "deny": str(ow.deny)}
                for target, (kind, ow) in self.overwrites.items()
            ],
            "topic": self.topic,
            "nsfw": self.nsfw,
            "parent_id": self.parent_id,
            "last_message_id": self.last_message_id,
            "last_pin_timestamp": None,
            "rate_limit_per_user": 0,
            "flags": 0,
            **(
                {
                    "owner_id": self.owner_id,
                    "message_count": 0,
                    "member_count": 1,
                    "thread_metadata": {
                        "archived": False,
                        "auto_archive_duration": 1440,
                        "locked": False,
                        "archive_timestamp": "2026-01-01T00:00:00+00:00",
                    },
                }
                if self.type is ChannelType.PUBLIC_THREAD
                else {}
            ),
        }


@dataclass(eq=False)
class FakeMember:
    """A user's membership in a guild."""

    user: FakeUser
    guild_id: str
    roles: list[str] = field(default_factory=list)
    nick: str | None = None
    joined_at: str = field(default_factory=iso_now)

    @property
    def id(self) -> str:
        return self.user.id

    @property
    def mention(self) -> str:
        return self.user.mention

    def to_json(self, *, with_user: bool = True) -> JSON:
        data: JSON = {
            "roles": list(self.roles),
            "nick": self.nick,
            "avatar": None,
            "banner": None,
            "joined_at": self.joined_at,
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "communication_disabled_until": None,
        }
        if with_user:
            data["user"] = self.user.to_json()
        return data


@dataclass(eq=False)
class FakeGuild:
    """A guild with its roles, channels and members; computes permissions like Discord."""

    id: str
    name: str
    owner_id: str
    roles: dict[str, FakeRole] = field(default_factory=dict)
    channels: dict[str, FakeChannel] = field(default_factory=dict)
    members: dict[str, FakeMember] = field(default_factory=dict)
    locale: str = "en-US"

    @property
    def everyone(self) -> FakeRole:
        return self.roles[self.id]

    def base_permissions(self, member: FakeMember) -> int:
        """Guild-level permissions: owner and ADMINISTRATOR get everything."""
        if member.id == self.owner_id:
            return ALL_PERMISSIONS
        perms = self.everyone.permissions
        for role_id in member.roles:
            perms |= self.roles[role_id].permissions
        return ALL_PERMISSIONS if perms & Permission.ADMINISTRATOR else perms

    def permissions_in(self, channel: FakeChannel, member: FakeMember) -> int:
        """Channel permissions after overwrites, in Discord's order (@everyone, roles, member); in a thread,
        its channel's, where sending needs Send Messages in Threads."""
        if channel.parent_id is not None:
            perms = self.permissions_in(self.channels[channel.parent_id], member)
            return (
                perms | Permission.SEND_MESSAGES
                if perms & Permission.SEND_MESSAGES_IN_THREADS
                else perms & ~Permission.SEND_MESSAGES
            )
        perms = self.base_permissions(member)
        if perms == ALL_PERMISSIONS:
            return perms
        if self.id in channel.overwrites:
            ow = channel.overwrites[self.id][1]
            perms = (perms & ~ow.deny) | ow.allow
        allow = deny = 0
        for role_id in member.roles:
            if role_id in channel.overwrites:
                ow = channel.overwrites[role_id][1]
                allow, deny = allow | ow.allow, deny | ow.deny
        perms = (perms & ~deny) | allow
        if member.id in channel.overwrites:
            ow = channel.overwrites[member.id][1]
            perms = (perms & ~ow.deny) | ow.allow
        if not perms & Permission.VIEW_CHANNEL:
            return 0
        if not perms & Permission.SEND_MESSAGES:
            perms &= ~_NEEDS_SEND
        return perms

    def to_json(self, *, members: list[FakeMember]) -> JSON:
        """The GUILD_CREATE payload, listing only ``members`` (Discord sends few without the intent)."""
        return {
            "id": self.id,
            "name": self.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": self.owner_id,
            "region": "deprecated",
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 1,
            "explicit_content_filter": 0,
            "features": [],
            "mfa_level": 0,
            "application_id": None,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "vanity_url_code": None,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": self.locale,
            "nsfw_level": 0,
            "premium_progress_bar_enabled": False,
            "max_members": 25000000,
            "max_video_channel_users": 25,
            "max_stage_video_channel_users": 50,
            "roles": [r.to_json() for r in self.roles.values()],
            "emojis": [],
            "stickers": [],
            "joined_at": iso_now(),
            "large": False,
            "unavailable": False,
            "lazy": True,
            "member_count": len(self.members),
            "members": [m.to_json() for m in members],
            "channels": [c.to_json() for c in self.channels.values()],
            "threads": [],
            "presences": [],
            "voice_states": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "incidents_data": None,
        }


@dataclass(frozen=True)
class UploadedFile:
    """A file the bot attached to a message (multipart ``files[n]`` part)."""

    filename: str
    data: bytes
    content_type: str | None


@dataclass(eq=False)
class FakeMessage:
    """A message as the fake stores it, plus what the bot sent to create and edit it.

    ``sent`` is the JSON body (``payload_json`` for multipart) of the request that created the
    message, or None for messages the test posted as a user; ``edits`` holds later PATCH bodies.
    """

    id: str
    channel_id: str
    guild_id: str | None
    author: FakeUser
    content: str = ""
    embeds: list[JSON] = field(default_factory=list)
    components: list[JSON] = field(default_factory=list)
    attachments: list[JSON] = field(default_factory=list)
    flags: int = 0
    type: MessageType = MessageType.DEFAULT
    tts: bool = False
    mentions: list[FakeUser] = field(default_factory=list)
    mention_roles: list[str] = field(default_factory=list)
    mention_everyone: bool = False
    referenced: FakeMessage | None = None
    webhook_id: str | None = None
    application_id: str | None = None
    interaction_metadata: JSON | None = None
    nonce: str | int | None = None
    timestamp: str = field(default_factory=iso_now)
    edited_timestamp: str | None = None
    reactions: list[str] = field(default_factory=list)
    sent: JSON | None = None
    edits: list[JSON] = field(default_factory=list)
    files: list[UploadedFile] = field(default_factory=list)
    deleted: bool = False

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & MessageFlag.EPHEMERAL)

    @property
    def loading(self) -> bool:
        """True while this is a deferred interaction's "thinking..." placeholder."""
        return bool(self.flags & MessageFlag.LOADING)

    @property
    def allowed_mentions(self) -> JSON | None:
        """``allowed_mentions`` the bot sent when creating the message (None if it sent none)."""
        return None if self.sent is None else self.sent.get("allowed_mentions")

    def to_json(self, *, with_reference: bool = True) -> JSON:
        data: JSON = {
            "id": self.id,
            "channel_id": self.channel_id,
            "type": int(self.type),
            "content": self.content,
            "author": self.author.to_json(),
            "attachments": list(self.attachments),
            "embeds": list(self.embeds),
            "components": list(self.components),
            "mentions": [u.to_json() for u in self.mentions],
            "mention_roles": list(self.mention_roles),
            "mention_everyone": self.mention_everyone,
            "pinned": False,
            "tts": self.tts,
            "timestamp": self.timestamp,
            "edited_timestamp": self.edited_timestamp,
            "flags": self.flags,
            "reactions": [
                {
                    "count": 1,
                    "count_details": {"burst": 0, "normal": 1},
                    "me": True,
                    "me_burst": False,
                    "burst_colors": [],
                    "emoji": {"id": None, "name": name},
                }
                for name in self.reactions
            ],
        }
        if self.nonce is not None:
            data["nonce"] = self.nonce
        if self.webhook_id is not None:
            data["webhook_id"] = self.webhook_id
        if self.application_id is not None:
            data["application_id"] = self.application_id
        if self.interaction_metadata is not None:
            data["interaction_metadata"] = self.interaction_metadata
            # The deprecated `interaction` object is still sent alongside its replacement.
            data["interaction"] = {
                "id": self.interaction_metadata["id"],
                "type": self.interaction_metadata["type"],
                "name": self.interaction_metadata.get("name", ""),
                "user": self.interaction_metadata["user"],
            }
        if self.referenced is not None:
            data["message_reference"] = {
                "type": 0,
                "message_id": self.referenced.id,
                "channel_id": self.referenced.channel_id,
                **({"guild_id": self.referenced.guild_id} if self.referenced.guild_id else {}),
            }
            if with_reference:
                data["referenced_message"] = (
                    None if self.referenced.deleted else self.referenced.to_json(with_reference=False)
                )
        return data


def blank_content(message: JSON) -> JSON:
    """What a client without the MESSAGE_CONTENT intent gets for a message it may not read."""
    blanked = {**message, "content": "", "embeds": [], "attachments": [], "components": []}
    blanked.pop("poll", None)
    return blanked


# ---------------------------------------------------------------------------
# Mentions
# ---------------------------------------------------------------------------

_USER_MENTION = re.compile(r"<@!?(\d+)>")
_ROLE_MENTION = re.compile(r"<@&(\d+)>")
_EVERYONE_MENTION = re.compile(r"@(everyone|here)\b")


@dataclass(frozen=True)
class ParsedMentions:
    """Mentions written in a message's content, before allowed_mentions filtering."""

    user_ids: list[str]
    role_ids: list[str]
    everyone: bool


def parse_mentions(content: str) -> ParsedMentions:
    """Find user, role and @everyone/@here mentions in ``content``, in order, without duplicates."""
    return ParsedMentions(
        user_ids=list(dict.fromkeys(_USER_MENTION.findall(content))),
        role_ids=list(dict.fromkeys(_ROLE_MENTION.findall(content))),
        everyone=bool(_EVERYONE_MENTION.search(content)),
    )


# ---------------------------------------------------------------------------
# Validation (400 Invalid Form Body, code 50035)
# ---------------------------------------------------------------------------


class FormErrors:
    """Collects field errors into Discord's nested ``errors`` object."""

    def __init__(self) -> None:
        self.tree: JSON = {}

    def add(self, path: tuple[str | int, ...], code: str, message: str) -> None:
        node = self.tree
        for key in path:
            node = node.setdefault(str(key), {})
        node.setdefault("_errors", []).append({"code": code, "message": message})

    def max_length(self, path: tuple[str | int, ...], value: Any, limit: int) -> None:
        if value is not None and len(value) > limit:
            self.add(path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")

    def __bool__(self) -> bool:
        return bool(self.tree)


EMBED_TOTAL_LIMIT = 6000


def validate_message(body: JSON, errors: FormErrors, prefix: tuple[str | int, ...] = ()) -> None:
    """Check content, embed and component limits of a message create/edit body."""
    errors.max_length((*prefix, "content"), body.get("content"), 2000)
    embeds = body.get("embeds") or []
    errors.max_length((*prefix, "embeds"), embeds, 10)
    total = 0
    for i, embed in enumerate(embeds):
        path = (*prefix, "embeds", i)
        errors.max_length((*path, "title"), embed.get("title"), 256)
        errors.max_length((*path, "description"), embed.get("description"), 4096)
        fields = embed.get("fields") or []
        errors.max_length((*path, "fields"), fields, 25)
        for j, fld in enumerate(fields):
            for key, limit in (("name", 256), ("value", 1024)):
                value = fld.get(key)
                if not value:
                    errors.add((*path, "fields", j, key), "BASE_TYPE_REQUIRED", "This field is required")
                errors.max_length((*path, "fields", j, key), value, limit)
                total += len(value or "")
        footer = (embed.get("footer") or {}).get("text")
        author = (embed.get("author") or {}).get("name")
        errors.max_length((*path, "footer", "text"), footer, 2048)
        errors.max_length((*path, "author", "name"), author, 256)
        total += sum(len(s or "") for s in (embed.get("title"), embed.get("description"), footer, author))
    if total > EMBED_TOTAL_LIMIT:
        errors.add(
            (*prefix, "embeds"), "MAX_EMBED_SIZE_EXCEEDED", f"Embed size exceeds maximum size of {EMBED_TOTAL_LIMIT}"
        )
    _validate_components(body, errors, prefix)
    _validate_allowed_mentions(body.get("allowed_mentions"), errors, (*prefix, "allowed_mentions"))


def _validate_components(body: JSON, errors: FormErrors, prefix: tuple[str | int, ...]) -> None:
    components = body.get("components") or []
    v2 = bool((body.get("flags") or 0) & MessageFlag.IS_COMPONENTS_V2)
    if v2 and (body.get("content") or body.get("embeds")):
        errors.add(
            (*prefix, "content"),
            "MESSAGE_CANNOT_USE_LEGACY_FIELDS_WITH_COMPONENTS_V2",
            "The 'content' and 'embeds' fields cannot be used when using MessageFlags.IS_COMPONENTS_V2",
        )
    if not v2:
        errors.max_length((*prefix, "components"), components, 5)
        for i, row in enumerate(components):
            path = (*prefix, "components", i)
            if row.get("type") != ComponentType.ACTION_ROW:
                errors.add((*path, "type"), "UNION_TYPE_CHOICES", 'Value of field "type" must be one of (1,).')
                continue
            children = row.get("components") or []
            has_select = any(c.get("type") != ComponentType.BUTTON for c in children)
            if not children or len(children) > 5 or (has_select and len(children) > 1):
                errors.add(
                    (*path, "components"),
                    "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
                    "The specified component exceeds the maximum width",
                )
    seen: set[str] = set()
    for path, comp in _walk_components(components, (*prefix, "components")):
        custom_id = comp.get("custom_id")
        if custom_id is not None:
            errors.max_length((*path, "custom_id"), custom_id, 100)
            if custom_id in seen:
                errors.add(
                    (*path, "custom_id"), "COMPONENT_CUSTOM_ID_DUPLICATED", "Component custom id cannot be duplicated"
                )
            seen.add(custom_id)
        if comp.get("type") == ComponentType.BUTTON:
            errors.max_length((*path, "label"), comp.get("label"), 80)
            is_link = comp.get("style") == 5
            if is_link != ("url" in comp) or (not is_link and custom_id is None):
                errors.add(
                    (*path, "custom_id"),
                    "BUTTON_COMPONENT_CUSTOM_ID_REQUIRED",
                    "A custom id is required for non-link buttons; link buttons need a url and no custom id",
                )
        if comp.get("type") == ComponentType.STRING_SELECT:
            errors.max_length((*path, "options"), comp.get("options") or [], 25)
            errors.max_length((*path, "placeholder"), comp.get("placeholder"), 150)


def _walk_components(components: list[JSON], path: tuple[str | int, ...]) -> list[tuple[tuple[str | int, ...], JSON]]:
    """Every component, nested ones included, with its error path."""
    found: list[tuple[tuple[str | int, ...], JSON]] = []
    for i, comp in enumerate(components):
        found.append(((*path, i), comp))
        found.extend(_walk_components(comp.get("components") or [], (*path, i, "components")))
        if isinstance(comp.get("accessory"), dict):
            found.append(((*path, i, "accessory"), comp["accessory"]))
    return found


def find_component(components: list[JSON], custom_id: str) -> JSON | None:
    """The component with ``custom_id`` anywhere in a message's component tree."""
    for _, comp in _walk_components(components, ()):
        if comp.get("custom_id") == custom_id:
            return comp
    return None


def _validate_allowed_mentions(allowed: JSON | None, errors: FormErrors, path: tuple[str | int, ...]) -> None:
    if not allowed:
        return
    parse = allowed.get("parse") or []
    for kind in ("users", "roles"):
        if kind in parse and allowed.get(kind):
            errors.add(
                (*path, kind),
                "SET_TYPE_ALREADY_CONTAINS_VALUE",
                f'parse:["{kind}"] and {kind}: [ids...] are mutually exclusive.',
            )
        errors.max_length((*path, kind), allowed.get(kind), 100)


def validate_choices(data: JSON, errors: FormErrors) -> None:
    """Check an autocomplete result (callback type 8) against Discord's limits."""
    choices = data.get("choices")
    if choices is None:
        errors.add(("data", "choices"), "BASE_TYPE_REQUIRED", "This field is required")
        return
    errors.max_length(("data", "choices"), choices, 25)
    for i, choice in enumerate(choices):
        name = choice.get("name") or ""
        if not 1 <= len(name) <= 100:
            errors.add(("data", "choices", i, "name"), "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
        if isinstance(choice.get("value"), str):
            errors.max_length(("data", "choices", i, "value"), choice["value"], 100)


_COMMAND_NAME = re.compile(r"^[-_\w]{1,32}$")


def validate_commands(commands: list[JSON], errors: FormErrors) -> None:
    """Check a bulk-overwrite body the way Discord does before storing it."""
    seen: set[tuple[str, int]] = set()
    for i, cmd in enumerate(commands):
        key = (cmd.get("name", ""), cmd.get("type", 1))
        if key in seen:
            errors.add((i, "name"), "APPLICATION_COMMANDS_DUPLICATE_NAME", "Application command names must be unique")
        seen.add(key)
        is_chat_input = cmd.get("type", 1) == 1
        _validate_named((i,), cmd, errors, description=is_chat_input)
        _validate_options((i, "options"), cmd.get("options") or [], errors)


def _validate_named(path: tuple[str | int, ...], item: JSON, errors: FormErrors, *, description: bool) -> None:
    name = item.get("name", "")
    if description and (not _COMMAND_NAME.match(name) or name != name.lower()):
        errors.add((*path, "name"), "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")
    if description and not 1 <= len(item.get("description") or "") <= 100:
        errors.add((*path, "description"), "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")


def _validate_options(path: tuple[str | int, ...], options: list[JSON], errors: FormErrors) -> None:
    errors.max_length(path, options, 25)
    seen_optional = False
    for i, opt in enumerate(options):
        _validate_named((*path, i), opt, errors, description=True)
        if opt.get("type") in (OptionType.SUB_COMMAND, OptionType.SUB_COMMAND_GROUP):
            _validate_options((*path, i, "options"), opt.get("options") or [], errors)
            continue
        if opt.get("required"):
            if seen_optional:
                errors.add(
                    (*path, i, "required"),
                    "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                    "Required options must be placed before non-required options",
                )
        else:
            seen_optional = True
        choices = opt.get("choices") or []
        errors.max_length((*path, i, "choices"), choices, 25)
        if choices and opt.get("autocomplete"):
            errors.add(
                (*path, i, "autocomplete"),
                "AUTOCOMPLETE_CHOICES_INVALID",
                "Autocomplete cannot be set on options with choices",
            )
