"""The fake Discord (REST v10 and gateway on 127.0.0.1), its payloads, and bots run against it."""
