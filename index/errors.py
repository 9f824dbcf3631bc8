"""The error every article loader raises: its message says in one line why an input is not an article."""


class ArticleError(ValueError):
    """An input cannot become an article; the message says why in one line."""
