"""Self-tests of the fake Discord server, driving a tiny discord.py bot through it end to end."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import discord
import pytest
import pytest_asyncio
from discord import app_commands
from discord.ext import commands

from tests.support.discord.fake_discord import FakeDiscord, Overwrite, Permission, running_client, shard_of
from tests.support.discord.fake_payloads import FakeChannel, FakeGuild, FakeUser

TITLES = ["Python 3.13 released", "Rust in the kernel", "Pythonic patterns", "Go generics"]


class PressView(discord.ui.View):
    """One button that rewrites its message when pressed."""

    def __init__(self, bot: TinyBot) -> None:
        super().__init__(timeout=30)
        self.bot = bot

    @discord.ui.button(label="Press me", custom_id="press")
    async def press(self, interaction: discord.Interaction, button: discord.ui.Button[PressView]) -> None:
        self.bot.pressed_by.append(interaction.user.id)
        await interaction.response.edit_message(content="pressed", view=None)


@dataclass
class Record:
    """What the bot's handlers observed, for assertions."""

    messages: asyncio.Queue[discord.Message] = field(default_factory=asyncio.Queue)
    errors: list[BaseException] = field(default_factory=list)
    finished: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    interaction_guilds: list[int | None] = field(default_factory=list)
    """The guild of every interaction the bot received (None in DMs)."""
    events: list[str] = field(default_factory=list)
    """The type of every gateway event the bot received (READY, MESSAGE_CREATE, ...)."""
    threads: asyncio.Queue[discord.Thread] = field(default_factory=asyncio.Queue)

    async def wait_finished(self, command: str) -> None:
        """Wait until the handler of ``command`` has returned."""
        assert await asyncio.wait_for(self.finished.get(), 10) == command


class TinyBot(commands.Bot):
    """A minimal bot with one slash command per behaviour the fake must handle."""

    def __init__(self, intents: discord.Intents | None = None, **options: Any) -> None:
        """``options`` go to commands.Bot (e.g. shard_id and shard_count)."""
        super().__init__(
            command_prefix="!", intents=intents or discord.Intents.default(), guild_ready_timeout=0.1, **options
        )
        self.record = Record()
        self.pressed_by: list[int] = []
        self._add_commands()

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        self.record.interaction_guilds.append(interaction.guild_id)

    async def on_socket_event_type(self, event: str) -> None:
        self.record.events.append(event)

    async def on_thread_create(self, thread: discord.Thread) -> None:
        await self.record.threads.put(thread)

    async def on_message(self, message: discord.Message) -> None:
        await self.record.messages.put(message)
        if self.user in message.mentions and "reply please" in message.content:
            await message.channel.send(
                f"hello {message.author.mention}", allowed_mentions=discord.AllowedMentions(users=False)
            )
            await message.reply("with a file", file=discord.File(io.BytesIO(b"article"), "article.txt"))

    def _add_commands(self) -> None:
        tree, record = self.tree, self.record

        @tree.command(description="Answer at once")
        async def ping(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("pong")

        @tree.command(description="Defer, work, then follow up")
        @app_commands.describe(seconds="How long to work")
        async def slow(interaction: discord.Interaction, seconds: float = 0.0) -> None:
            await interaction.response.defer(thinking=True)
            await asyncio.sleep(seconds)
            await interaction.followup.send("done")

        @tree.command(description="Report progress by editing the reply")
        async def progress(interaction: discord.Interaction) -> None:
            await interaction.response.defer(ephemeral=True)
            await interaction.edit_original_response(content="50%")
            await interaction.edit_original_response(content="100%")
            await interaction.followup.send("details", ephemeral=False)

        @tree.command(description="Only the caller sees the answer")
        async def secret(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("psst", ephemeral=True)

        @tree.command(description="Acknowledge twice at once (a bug)")
        async def double(interaction: discord.Interaction) -> None:
            results = await asyncio.gather(
                interaction.response.send_message("one"),
                interaction.response.send_message("two"),
                return_exceptions=True,
            )
            record.errors.extend(r for r in results if isinstance(r, BaseException))
            await record.finished.put("double")

        @tree.command(description="Answer too late")
        async def late(interaction: discord.Interaction) -> None:
            await asyncio.sleep(3.2)
            try:
                await interaction.response.send_message("sorry")
            except discord.HTTPException as exc:
                record.errors.append(exc)
            await record.finished.put("late")

        @tree.command(description="Break the message limits")
        async def too_long(interaction: discord.Interaction) -> None:
            for attempt in (
                interaction.followup.send("before acknowledging"),
                interaction.response.send_message("   "),
                interaction.response.send_message("x" * 2001),
                interaction.response.send_message(
                    embed=discord.Embed(description="d" * 4000, title="t" * 250)
                    .add_field(name="n", value="v" * 1024)
                    .add_field(name="n", value="v" * 1024)
                ),
            ):
                try:
                    await attempt
                except discord.HTTPException as exc:
                    record.errors.append(exc)
            await interaction.response.send_message("fine")
            await record.finished.put("too_long")

        @tree.command(description="Search articles")
        @app_commands.describe(query="Words in the title")
        async def search(interaction: discord.Interaction, query: str) -> None:
            await interaction.response.send_message(f"results for {query}")

        @search.autocomplete("query")
        async def search_titles(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
            return [app_commands.Choice(name=t, value=t) for t in TITLES if current.lower() in t.lower()]

        @tree.command(description="Show a button")
        async def button(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("press it", view=PressView(self))

        @tree.command(description="Managers only")
        @app_commands.default_permissions(manage_guild=True)
        async def manage(interaction: discord.Interaction, member: discord.Member) -> None:
            perms = interaction.permissions
            await interaction.response.send_message(f"{member.display_name} {perms.manage_guild}")


@dataclass
class World:
    """A guild with one channel and one ordinary member, and the bot connected to it."""

    fake: FakeDiscord
    bot: TinyBot
    guild: FakeGuild
    channel: FakeChannel
    alice: FakeUser


def make_world(fake: FakeDiscord, bot: TinyBot) -> World:
    guild = fake.add_guild("Articles")
    channel = fake.add_channel(guild, "general")
    alice = fake.add_user("alice")
    fake.add_member(guild, alice)
    return World(fake, bot, guild, channel, alice)


@pytest_asyncio.fixture
async def world(fake_discord: FakeDiscord) -> AsyncIterator[World]:
    bot = TinyBot()
    world = make_world(fake_discord, bot)
    async with running_client(fake_discord, bot):
        # Commands are defined globally; copying them to the guild makes them sync instantly there.
        bot.tree.copy_global_to(guild=discord.Object(int(world.guild.id)))
        await bot.tree.sync(guild=discord.Object(int(world.guild.id)))
        yield world


@pytest.mark.asyncio
async def test_login_ready_and_guild_available(world: World) -> None:
    fake, bot = world.fake, world.bot
    await fake.wait_until_ready()
    assert bot.user is not None and str(bot.user.id) == fake.bot_user.id
    assert str(bot.application_id) == fake.application_id
    guild = bot.get_guild(int(world.guild.id))
    assert guild is not None and guild.name == "Articles"
    assert guild.get_channel(int(world.channel.id)) is not None
    assert guild.me is not None and guild.me.guild_permissions.send_messages
    assert fake.intents == discord.Intents.default().value
    assert fake.gateway_queries == [{"v": "10", "encoding": "json", "compress": "zlib-stream"}]
    assert [r.path for r in fake.requests[:2]] == ["/users/@me", "/oauth2/applications/@me"]


@pytest.mark.asyncio
async def test_sync_stores_commands_with_ids_and_options(world: World) -> None:
    search = world.fake.command("search", guild=world.guild)
    assert search["id"].isdigit() and search["application_id"] == world.fake.application_id
    assert search["guild_id"] == world.guild.id
    [query] = search["options"]
    assert query["name"] == "query" and query["required"] is True and query["autocomplete"] is True
    assert world.fake.command("manage", guild=world.guild)["default_member_permissions"] == str(1 << 5)
    # Re-syncing keeps the ids, as Discord does for unchanged names.
    synced = await world.bot.tree.sync(guild=discord.Object(int(world.guild.id)))
    assert {c.name: str(c.id) for c in synced}["search"] == search["id"]


@pytest.mark.asyncio
async def test_immediate_reply(world: World) -> None:
    interaction = await world.fake.send_command("ping", user=world.alice, channel=world.channel)
    reply = await interaction.wait_for_original()
    assert reply.content == "pong" and not reply.ephemeral
    response = interaction.response
    assert response is not None and response.type == 4 and response.after < 3


@pytest.mark.asyncio
async def test_defer_then_followup_fills_the_thinking_message(world: World) -> None:
    interaction = await world.fake.send_command(
        "slow", user=world.alice, channel=world.channel, options={"seconds": 0.2}
    )
    response = await interaction.wait_for_response()
    assert response.type == 5
    followup = await interaction.wait_for_followup()
    assert followup.content == "done" and followup is interaction.original and not followup.loading


@pytest.mark.asyncio
async def test_edits_of_the_original_and_later_followups(world: World) -> None:
    interaction = await world.fake.send_command("progress", user=world.alice, channel=world.channel)
    details = await interaction.wait_for_followup()
    original = interaction.original
    assert original is not None and original.content == "100%" and original.ephemeral
    assert [e["content"] for e in original.edits] == ["50%", "100%"]
    # Once the thinking message is resolved, followups are new messages with their own flags.
    assert details is not original and details.content == "details" and not details.ephemeral


@pytest.mark.asyncio
async def test_ephemeral_response_has_flag_64(world: World) -> None:
    interaction = await world.fake.send_command("secret", user=world.alice, channel=world.channel)
    reply = await interaction.wait_for_original()
    assert reply.flags & 64 and reply.content == "psst"
    assert world.fake.bot_messages(world.channel) == []


@pytest.mark.asyncio
async def test_second_acknowledgement_is_refused(world: World) -> None:
    interaction = await world.fake.send_command("double", user=world.alice, channel=world.channel)
    await world.bot.record.wait_finished("double")
    assert [c.status for c in interaction.callbacks].count(400) == 1
    [error] = world.bot.record.errors
    assert isinstance(error, discord.HTTPException) and error.code == 40060
    [violation] = world.fake.take_violations()
    assert "40060" in violation


@pytest.mark.asyncio
async def test_first_response_after_three_seconds_is_refused(world: World) -> None:
    interaction = await world.fake.send_command("late", user=world.alice, channel=world.channel)
    await world.bot.record.wait_finished("late")
    [callback] = interaction.callbacks
    assert callback.status == 404 and callback.after > 3
    [error] = world.bot.record.errors
    assert isinstance(error, discord.NotFound) and error.code == 10062
    assert "after 3." in world.fake.take_violations()[0]


@pytest.mark.asyncio
async def test_limits_and_followup_before_acknowledgement_are_refused(world: World) -> None:
    interaction = await world.fake.send_command("too_long", user=world.alice, channel=world.channel)
    await world.bot.record.wait_finished("too_long")
    assert (await interaction.wait_for_original()).content == "fine"
    codes = [(e.status, e.code) for e in world.bot.record.errors if isinstance(e, discord.HTTPException)]
    assert codes == [(404, 10015), (400, 50006), (400, 50035), (400, 50035)]
    violations = world.fake.take_violations()
    assert '"data": {"content": {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH"' in violations[2]
    assert "MAX_EMBED_SIZE_EXCEEDED" in violations[3]


@pytest.mark.asyncio
async def test_autocomplete_returns_choices(world: World) -> None:
    interaction = await world.fake.send_autocomplete(
        "search", user=world.alice, channel=world.channel, focused="query", value="pyth"
    )
    await interaction.wait_for_response()
    assert [c["value"] for c in interaction.choices] == ["Python 3.13 released", "Pythonic patterns"]


@pytest.mark.asyncio
async def test_button_press_reaches_the_view(world: World) -> None:
    command = await world.fake.send_command("button", user=world.alice, channel=world.channel)
    message = await command.wait_for_original()
    press = await world.fake.send_component(message, "press", user=world.alice)
    response = await press.wait_for_response()
    assert response.type == 7
    assert world.bot.pressed_by == [int(world.alice.id)]
    assert message.content == "pressed" and message.components == []


@pytest.mark.asyncio
async def test_default_member_permissions_hide_commands(world: World) -> None:
    fake = world.fake
    with pytest.raises(PermissionError):
        await fake.send_command("manage", user=world.alice, channel=world.channel, options={"member": world.alice})
    managers = fake.add_role(world.guild, "managers", permissions=Permission.MANAGE_GUILD)
    world.guild.members[world.alice.id].roles.append(managers.id)
    interaction = await fake.send_command(
        "manage", user=world.alice, channel=world.channel, options={"member": world.alice}
    )
    assert (await interaction.wait_for_original()).content == "alice True"


@pytest.mark.asyncio
async def test_message_content_is_blanked_unless_the_bot_is_mentioned(world: World) -> None:
    fake, bot = world.fake, world.bot
    await fake.send_message(world.channel, world.alice, "just chatting")
    blanked = await asyncio.wait_for(bot.record.messages.get(), 5)
    assert blanked.content == "" and blanked.author.id == int(world.alice.id)
    await fake.send_message(world.channel, world.alice, f"{fake.bot_user.mention} any news?")
    mentioned = await asyncio.wait_for(bot.record.messages.get(), 5)
    assert mentioned.content.endswith("any news?")


@pytest.mark.asyncio
async def test_bot_messages_are_recorded_with_allowed_mentions_and_files(world: World) -> None:
    fake = world.fake
    question = await fake.send_message(world.channel, world.alice, f"{fake.bot_user.mention} reply please")
    hello = await fake.wait_for_message(world.channel)
    assert hello.content == f"hello {world.alice.mention}"
    assert hello.allowed_mentions is not None and "users" not in hello.allowed_mentions["parse"]
    assert hello.mentions == []  # the mention was suppressed
    reply = await fake.wait_for_message(world.channel)
    assert reply.referenced is question and reply.mentions == [world.alice]
    assert [f.data for f in reply.files] == [b"article"] and reply.attachments[0]["filename"] == "article.txt"


@pytest.mark.asyncio
async def test_heartbeats_continue_during_a_slow_command(world: World) -> None:
    interaction = await world.fake.send_command(
        "slow", user=world.alice, channel=world.channel, options={"seconds": 3.5}
    )
    start = interaction.dispatched_at
    await interaction.wait_for_followup(timeout=8)
    during = [t for t in world.fake.heartbeats if t > start]
    assert len(during) >= 3


@pytest.mark.asyncio
async def test_bot_without_send_permission_gets_403(fake_discord: FakeDiscord) -> None:
    bot = TinyBot()
    world = make_world(fake_discord, bot)
    bot_member = world.guild.members[fake_discord.bot_user.id]
    quiet = fake_discord.add_channel(
        world.guild, "quiet", overwrites={bot_member: Overwrite(deny=Permission.SEND_MESSAGES)}
    )
    async with running_client(fake_discord, bot):
        channel = bot.get_channel(int(quiet.id))
        assert isinstance(channel, discord.TextChannel)
        with pytest.raises(discord.Forbidden) as caught:
            await channel.send("hello")
        assert caught.value.code == 50013
    assert "Missing Permissions" in fake_discord.take_violations()[0]


@pytest.mark.asyncio
async def test_a_bot_without_embed_links_loses_its_embeds_and_learns_of_changed_overwrites(world: World) -> None:
    fake, bot = world.fake, world.bot
    bot_member = world.guild.members[fake.bot_user.id]
    world.channel.overwrites[bot_member.id] = (1, Overwrite(deny=Permission.EMBED_LINKS))
    channel = bot.get_channel(int(world.channel.id))
    assert isinstance(channel, discord.TextChannel) and channel.guild.me is not None
    assert channel.permissions_for(channel.guild.me).embed_links, "the bot's cache does not know yet"
    sent = await channel.send("see", embed=discord.Embed(title="Quote"))
    assert sent.embeds == [] and sent.content == "see"
    with pytest.raises(discord.HTTPException) as caught:
        await channel.send(embed=discord.Embed(title="Quote"))
    assert caught.value.code == 50006
    assert "Cannot send an empty message" in fake.take_violations()[0]
    await fake.update_channel(world.channel)
    await fake.wait_for(lambda: not channel.permissions_for(channel.guild.me).embed_links or None, 5, "the update")


@pytest.mark.asyncio
async def test_privileged_intent_not_enabled_is_refused(fake_discord: FakeDiscord) -> None:
    fake_discord.privileged_intents = 0
    intents = discord.Intents.default()
    intents.message_content = True
    with pytest.raises(discord.PrivilegedIntentsRequired):
        async with running_client(fake_discord, TinyBot(intents)):
            pass
    assert "4014" in fake_discord.take_violations()[0]


@pytest.mark.asyncio
async def test_unknown_route_is_a_discord_404(world: World) -> None:
    with pytest.raises(discord.NotFound):
        await world.bot.http.request(discord.http.Route("GET", "/no/such/route"))
    assert "404: Not Found" in world.fake.take_violations()[0]


@pytest.mark.asyncio
async def test_followup_after_the_token_expired_is_refused(world: World) -> None:
    world.fake.token_lifetime = 0.3  # Discord's is 15 minutes
    interaction = await world.fake.send_command(
        "slow", user=world.alice, channel=world.channel, options={"seconds": 0.5}
    )
    await world.fake.wait_for(lambda: world.fake.violations, 5, "the refused followup")
    assert interaction.followups == []
    assert "50027" in world.fake.take_violations()[0]


@pytest.mark.asyncio
async def test_direct_messages_arrive_with_content(world: World) -> None:
    dm = world.fake.dm_channel(world.alice)
    await world.fake.send_message(dm, world.alice, "hello in private")
    message = await asyncio.wait_for(world.bot.record.messages.get(), 5)
    assert message.content == "hello in private" and message.guild is None


@dataclass
class ShardedWorld:
    """Guild "Zero" on shard 0 of 2 and "One" on shard 1, a channel each, alice in both."""

    zero: FakeGuild
    one: FakeGuild
    zero_general: FakeChannel
    one_general: FakeChannel
    alice: FakeUser


def make_sharded_world(fake: FakeDiscord) -> ShardedWorld:
    zero, one = fake.add_guild("Zero", shard=(0, 2)), fake.add_guild("One", shard=(1, 2))
    alice = fake.add_user("alice")
    fake.add_member(zero, alice)
    fake.add_member(one, alice)
    return ShardedWorld(zero, one, fake.add_channel(zero, "general"), fake.add_channel(one, "general"), alice)


async def next_message(bot: TinyBot) -> str:
    """The text of the next message a user (not the bot itself) wrote that ``bot`` received."""
    while (message := await asyncio.wait_for(bot.record.messages.get(), 10)).author.bot:
        pass
    return message.content


def reading() -> discord.Intents:
    intents = discord.Intents.default()
    intents.message_content = True
    return intents


def test_guilds_can_be_placed_on_a_shard(fake_discord: FakeDiscord) -> None:
    for count in (1, 2, 3, 16):
        for shard_id in range(count):
            guild = fake_discord.add_guild(f"{shard_id} of {count}", shard=(shard_id, count))
            assert shard_of(guild.id, count) == (int(guild.id) >> 22) % count == shard_id
    ids = [int(g) for g in fake_discord.guilds]
    assert ids == sorted(set(ids)), "ids stay unique and increasing"
    with pytest.raises(ValueError, match="below the count"):
        fake_discord.add_guild("nowhere", shard=(2, 2))


@pytest.mark.asyncio
async def test_each_shard_gets_only_its_guilds_and_their_events(fake_discord: FakeDiscord) -> None:
    fake, world = fake_discord, make_sharded_world(fake_discord)
    bot0, bot1 = TinyBot(reading(), shard_id=0, shard_count=2), TinyBot(reading(), shard_id=1, shard_count=2)
    async with running_client(fake, bot0), running_client(fake, bot1):
        await bot0.tree.sync()  # global commands: usable at once in every guild of the fake
        await fake.wait_until_ready(shard=(1, 2))
        assert sorted(fake.ready_shards) == [(0, 2), (1, 2)] and fake.connected_shards == [(0, 2), (1, 2)]
        assert [g.name for g in bot0.guilds] == ["Zero"] and [g.name for g in bot1.guilds] == ["One"]

        for channel in (world.zero_general, world.one_general):
            interaction = await fake.send_command("ping", user=world.alice, channel=channel)
            assert (await interaction.wait_for_original()).content == "pong"
        assert bot0.record.interaction_guilds == [int(world.zero.id)]
        assert bot1.record.interaction_guilds == [int(world.one.id)]

        await fake.send_message(world.zero_general, world.alice, "in zero")
        await fake.send_message(world.one_general, world.alice, "in one")
        await fake.send_message(fake.dm_channel(world.alice), world.alice, "direct")
        assert [await next_message(bot0), await next_message(bot0)] == ["in zero", "direct"], "DMs are shard 0's"
        assert await next_message(bot1) == "in one"

        channel = bot0.get_channel(int(world.zero_general.id))
        assert isinstance(channel, discord.TextChannel)
        started = await channel.send("a thread starts here")
        await started.create_thread(name="talk")
        assert (await asyncio.wait_for(bot0.record.threads.get(), 10)).name == "talk"
        # Events on one connection arrive in order: once bot1 has this message, it would have had the thread.
        await fake.send_message(world.one_general, world.alice, "after the thread")
        assert await next_message(bot1) == "after the thread"
        assert "THREAD_CREATE" in bot0.record.events and "THREAD_CREATE" not in bot1.record.events


@pytest.mark.asyncio
async def test_without_a_connection_for_its_shard_an_interaction_cannot_be_sent(fake_discord: FakeDiscord) -> None:
    world = make_sharded_world(fake_discord)
    bot0 = TinyBot(shard_id=0, shard_count=2)
    async with running_client(fake_discord, bot0):
        await bot0.tree.sync()
        with pytest.raises(RuntimeError, match=f"shard of guild {world.one.id}"):
            await fake_discord.send_command("ping", user=world.alice, channel=world.one_general)


@pytest.mark.asyncio
async def test_an_unsharded_client_gets_every_guild(fake_discord: FakeDiscord) -> None:
    make_sharded_world(fake_discord)
    bot = TinyBot()
    async with running_client(fake_discord, bot):
        assert sorted(g.name for g in bot.guilds) == ["One", "Zero"]
        assert fake_discord.ready_shards == [(0, 1)] and "shard" not in (fake_discord.identify or {})


class TinyShardedBot(commands.AutoShardedBot):
    """An AutoShardedBot that identifies its shards back to back: the fake has no identify rate limit."""

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        pass


@pytest.mark.asyncio
async def test_an_auto_sharded_client_runs_the_recommended_shards(fake_discord: FakeDiscord) -> None:
    make_sharded_world(fake_discord)
    fake_discord.recommended_shards = 2
    bot = TinyShardedBot(command_prefix="!", intents=discord.Intents.default(), guild_ready_timeout=0.1)
    async with running_client(fake_discord, bot):
        assert bot.shard_count == 2 and sorted(bot.shards) == [0, 1]
        assert {g.name: g.shard_id for g in bot.guilds} == {"Zero": 0, "One": 1}
        assert sorted(fake_discord.ready_shards) == [(0, 2), (1, 2)]
    assert any(r.path == "/gateway/bot" for r in fake_discord.requests)


@pytest.mark.asyncio
async def test_an_invalid_shard_is_refused(fake_discord: FakeDiscord) -> None:
    with pytest.raises(discord.ConnectionClosed) as closed:
        async with running_client(fake_discord, TinyBot(shard_id=2, shard_count=2)):
            pass
    assert closed.value.code == 4010
    assert fake_discord.take_violations() == ["gateway closed with 4010: Invalid shard: [2, 2]"]
    assert fake_discord.ready_shards == []
