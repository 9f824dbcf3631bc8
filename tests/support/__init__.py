"""What the tests share: servers they start, fakes they talk to, data they write, helpers they call."""
