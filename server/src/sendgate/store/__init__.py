"""Storage: the Redis connection, the Lua scripts, and the calls that run them."""

from sendgate.store.redis_store import RedisStore

__all__ = ["RedisStore"]
