"""What `RedisStore`'s session cache writes to Redis: its keys, the two Lua scripts that change
them atomically, and the compact JSON of an entry and of an invalidation.

Redis keys, all under `<key_prefix>:sc:`:
  t:<token hash>  compact JSON of the session and its user (public fields) and the entry's
                  deadline: at most `cache_ttl` after the lookup that filled it began, never past
                  the session's access expiry; a reader refuses an entry past its deadline
  s:<session id>  the token hash cached for that session (so a revocation finds the entry)
  u:<user id>     set of the user's cached session ids (password change, user update)
  exp             sorted set: session id -> refresh expiry (so cleanup finds its entries)
  gen             a random value replaced on every invalidation: a cache fill that read the
                  primary before an invalidation sees another value and is dropped, so a lookup
                  racing a revocation can never write the revoked session back
and the channel `<key_prefix>:sc:invalidate` carries every invalidation to every instance.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from .._models import Session, User
from ._local_cache import Found

__all__ = ["FILL_LUA", "INVALIDATE_LUA", "decode_entry", "encode_entry", "glob_escape", "invalidation_message"]

_FORMAT = 2

# ARGV: key prefix, generation read before the primary lookup, token hash, session id, user id,
# payload, TTL in ms, refresh expiry (POSIX seconds).
FILL_LUA = """
local p = ARGV[1]
if (redis.call('GET', p .. 'gen') or '') ~= ARGV[2] then return 0 end
local ttl = tonumber(ARGV[7])
local old = redis.call('GET', p .. 's:' .. ARGV[4])
if old and old ~= ARGV[3] then redis.call('DEL', p .. 't:' .. old) end
redis.call('SET', p .. 't:' .. ARGV[3], ARGV[6], 'PX', ttl)
redis.call('SET', p .. 's:' .. ARGV[4], ARGV[3], 'PX', ttl)
local ukey = p .. 'u:' .. ARGV[5]
redis.call('SADD', ukey, ARGV[4])
if redis.call('PTTL', ukey) < ttl then redis.call('PEXPIRE', ukey, ttl) end
redis.call('ZADD', p .. 'exp', ARGV[8], ARGV[4])
return 1
"""

# ARGV: key prefix, the invalidation message (JSON, also published), a new generation value.
INVALIDATE_LUA = """
local p = ARGV[1]
local msg = cjson.decode(ARGV[2])
local function drop(sid)
  local h = redis.call('GET', p .. 's:' .. sid)
  if h then redis.call('DEL', p .. 't:' .. h) end
  redis.call('DEL', p .. 's:' .. sid)
  redis.call('ZREM', p .. 'exp', sid)
end
for _, sid in ipairs(msg.s or {}) do drop(sid) end
for _, uid in ipairs(msg.u or {}) do
  for _, sid in ipairs(redis.call('SMEMBERS', p .. 'u:' .. uid)) do drop(sid) end
  redis.call('DEL', p .. 'u:' .. uid)
end
if type(msg.x) == 'string' then
  for _, sid in ipairs(redis.call('ZRANGEBYSCORE', p .. 'exp', '-inf', '(' .. msg.x)) do drop(sid) end
end
redis.call('SET', p .. 'gen', ARGV[3])
redis.call('PUBLISH', p .. 'invalidate', ARGV[2])
return 1
"""


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _time(value: Any) -> datetime:
    if not isinstance(value, str):
        raise TypeError("timestamp")
    return datetime.fromisoformat(value)


def encode_entry(found: Found, deadline_ms: int) -> str:
    s, u = found
    return json.dumps(
        {
            "v": _FORMAT,
            "d": deadline_ms,
            "s": [s.id, s.user_id, _iso(s.expires_at), _iso(s.refresh_expires_at), _iso(s.created_at),
                  _iso(s.last_used_at), s.ip, s.user_agent, _iso(s.auth_time)],
            "u": [u.id, u.email, u.name, u.email_verified, u.image, _iso(u.created_at), _iso(u.updated_at),
                  u.credential_version],
        },
        separators=(",", ":"),
    )  # fmt: skip


def decode_entry(raw: bytes) -> tuple[Found, float] | None:
    """The cached pair and the seconds it may still be served, or None for anything unreadable
    (another format version, corruption) or past its deadline: a miss."""
    try:
        data = json.loads(raw)
        if data["v"] != _FORMAT:
            return None
        remaining = (int(data["d"]) - time.time() * 1000) / 1000
        if remaining <= 0:
            return None
        sid, user_id, expires, refresh_expires, created, last_used, ip, user_agent, auth_time = data["s"]
        uid, email, name, verified, image, user_created, user_updated, credential_version = data["u"]
        session = Session(
            id=sid, user_id=user_id, expires_at=_time(expires), refresh_expires_at=_time(refresh_expires),
            created_at=_time(created), last_used_at=_time(last_used) if last_used is not None else None,
            ip=ip, user_agent=user_agent, auth_time=_time(auth_time) if auth_time is not None else None,
        )  # fmt: skip
        user = User(
            id=uid, email=email, name=name, email_verified=bool(verified), image=image,
            created_at=_time(user_created), updated_at=_time(user_updated), credential_version=int(credential_version),
        )  # fmt: skip
    except (ValueError, TypeError, KeyError):
        return None
    return (session, user), remaining


def invalidation_message(
    sessions: Sequence[str], users: Sequence[str], before: float | None, *, everything: bool = False
) -> str:
    """The JSON that `INVALIDATE_LUA` applies and publishes: `s` session ids, `u` user ids, `x`
    drop entries whose refresh expiry is before this POSIX time, `all` forget everything."""
    message: dict[str, Any] = {"s": sessions, "u": users}
    if before is not None:
        message["x"] = repr(before)
    if everything:
        message["all"] = True
    return json.dumps(message, separators=(",", ":"))


def glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)
