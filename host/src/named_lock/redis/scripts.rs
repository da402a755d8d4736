//! The Lua scripts of the Redis backend: each runs atomically on the
//! server, so a grant, its fencing token and a token-checked release or
//! renewal are one step each.

use redis::Script;

use crate::bindings::portalocker::filelock::types::LockMode;

/// Grants `lock` (exclusive) or joins `readers` (shared), then draws a
/// fencing token. KEYS: lock, readers, fence. ARGV: token, ttl ms, `x`/`s`.
/// Returns the fencing token, or 0 when contended.
const ACQUIRE: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if ARGV[3] == 'x' then
  if redis.call('ZCARD', KEYS[2]) > 0 then return 0 end
  if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ttl) then return 0 end
else
  if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
  redis.call('ZADD', KEYS[2], now + ttl, ARGV[1])
  if redis.call('PTTL', KEYS[2]) < ttl then redis.call('PEXPIRE', KEYS[2], ttl) end
end
return redis.call('INCR', KEYS[3])
"#;

/// Releases a grant if the token still holds it, and announces the release.
/// KEYS: lock, readers. ARGV: token, `x`/`s`, channel (empty: none), name.
/// Returns 1 when released, 0 when the token held nothing (lost).
const RELEASE: &str = r#"
local held = 0
if ARGV[2] == 'x' then
  if redis.call('GET', KEYS[1]) == ARGV[1] then
    redis.call('DEL', KEYS[1])
    held = 1
  end
else
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local expiry = redis.call('ZSCORE', KEYS[2], ARGV[1])
  if expiry and tonumber(expiry) > now then held = 1 end
  redis.call('ZREM', KEYS[2], ARGV[1])
end
if held == 1 and ARGV[3] ~= '' then redis.call('PUBLISH', ARGV[3], ARGV[4]) end
return held
"#;

/// Extends a grant the token still holds. KEYS: lock, readers. ARGV: token,
/// ttl ms, `x`/`s`. Returns 1 when extended, 0 when lost.
const RENEW: &str = r#"
local ttl = tonumber(ARGV[2])
if ARGV[3] == 'x' then
  if redis.call('GET', KEYS[1]) == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ttl)
    return 1
  end
  return 0
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expiry = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not expiry or tonumber(expiry) <= now then return 0 end
redis.call('ZADD', KEYS[2], 'XX', now + ttl, ARGV[1])
if redis.call('PTTL', KEYS[2]) < ttl then redis.call('PEXPIRE', KEYS[2], ttl) end
return 1
"#;

/// The backend's scripts, loaded once per namespace (the client sends each
/// by its SHA-1 and loads it when the server does not know it yet).
#[derive(Debug)]
pub(super) struct Scripts {
    /// [`ACQUIRE`].
    pub(super) acquire: Script,
    /// [`RELEASE`].
    pub(super) release: Script,
    /// [`RENEW`].
    pub(super) renew: Script,
}

impl Scripts {
    pub(super) fn new() -> Self {
        Scripts {
            acquire: Script::new(ACQUIRE),
            release: Script::new(RELEASE),
            renew: Script::new(RENEW),
        }
    }
}

/// The mode argument of the scripts.
pub(super) fn mode_arg(mode: LockMode) -> &'static str {
    match mode {
        LockMode::Exclusive => "x",
        LockMode::Shared => "s",
    }
}
