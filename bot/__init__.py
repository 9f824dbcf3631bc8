"""articlebot's Discord layer: the bot, its cogs and how answers are rendered for Discord."""
