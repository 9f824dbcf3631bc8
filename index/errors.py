"""The errors the index raises to its callers: each message says in one line what is wrong."""


class ArticleError(ValueError):
    """An input cannot become an article; the message says why in one line."""


class StoreError(RuntimeError):
    """The index folder cannot be used (another model's index, unreadable, corrupt)."""


class ModelError(RuntimeError):
    """The embedding model cannot be found or loaded."""
