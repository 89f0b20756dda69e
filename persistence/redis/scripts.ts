/**
 * The Lua scripts of the Redis backend: every step that must be atomic is one script, registered
 * with ioredis `defineCommand` (EVALSHA, falling back to EVAL after NOSCRIPT, so a restarted Redis
 * reloads them by itself). Each script declares the keys it touches (`keys.ts` has the layout);
 * replies are parsed by the caller from `unknown`.
 *
 * Seqs travel as decimal strings and stream ids are built from those strings: Lua numbers are
 * doubles printed with 14 digits, so a seq is only ever compared as a number, never printed back.
 */
import type { ChainableCommander, Redis } from 'ioredis';

/** Stores the newer `at` as the session's activity: listing score (XX GT: only an existing, older one) and hash field. */
const TOUCH_SESSION = `
local function touchSession(sessionsKey, sessionKey, sessionId, at)
  redis.call('ZADD', sessionsKey, 'XX', 'GT', at, sessionId)
  if redis.call('EXISTS', sessionKey) == 1 then
    local current = tonumber(redis.call('HGET', sessionKey, 'updatedAt') or '0')
    if tonumber(at) > current then redis.call('HSET', sessionKey, 'updatedAt', at) end
  end
end
`;

const FIELD_OF = `
local function fieldOf(fields, name)
  for i = 1, #fields, 2 do
    if fields[i] == name then return fields[i + 1] end
  end
  return nil
end
`;

/**
 * Writes one batch of a session's events.
 * KEYS: log meta lease run runs sessions session
 * ARGV: token maxEvents maxBytes sessionId, then per event: seq runId kind json at
 * Reply: {status, latest, oldest} with status 'ok' | 'fenced' (the lease is not this token) |
 * 'conflict' (the seqs do not follow the log's latest: another writer, or a stale mirror).
 *
 * Events already in the stream with the same JSON are skipped: a retry of a batch whose reply was
 * lost (the connection dropped after Redis ran it) is acknowledged instead of refused. Nothing is
 * written unless every remaining event follows the log contiguously. A `complete` of the run the
 * record names deletes the record and the lease and marks the session's activity. Then the stream
 * is pruned to its bounds, oldest first, always keeping the newest entry.
 */
const APPEND = `${FIELD_OF}${TOUCH_SESSION}
local token, maxEvents, maxBytes, sessionId = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local n = (#ARGV - 4) / 5
local leaseOk = redis.call('GET', KEYS[3]) == token
local latestText = redis.call('HGET', KEYS[2], 'latest') or '0'
local latest = tonumber(latestText)

local function oldestSeq()
  local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
  if #first == 0 then return '0' end
  return string.match(first[1][1], '^(%d+)-')
end

local i = 0
while i < n do
  local base = 5 + i * 5
  if tonumber(ARGV[base]) > latest then break end
  local entry = redis.call('XRANGE', KEYS[1], ARGV[base] .. '-0', ARGV[base] .. '-0')
  if #entry == 0 then
    -- Pruned since it was written: only the lease holder can have written it.
    if not leaseOk then return {'fenced', latestText, '0'} end
  elseif fieldOf(entry[1][2], 'j') ~= ARGV[base + 3] then
    return {'conflict', latestText, '0'}
  end
  i = i + 1
end
if i == n then return {'ok', latestText, oldestSeq()} end
if not leaseOk then return {'fenced', latestText, '0'} end

local expected = latest + 1
for j = i, n - 1 do
  if tonumber(ARGV[5 + j * 5]) ~= expected then return {'conflict', latestText, '0'} end
  expected = expected + 1
end

local bytes = tonumber(redis.call('HGET', KEYS[2], 'bytes') or '0')
for j = i, n - 1 do
  local base = 5 + j * 5
  redis.call('XADD', KEYS[1], ARGV[base] .. '-0', 'r', ARGV[base + 1], 'k', ARGV[base + 2], 'j', ARGV[base + 3], 'a', ARGV[base + 4])
  bytes = bytes + #ARGV[base + 3]
  latestText = ARGV[base]
  if ARGV[base + 2] == 'complete' and redis.call('HGET', KEYS[4], 'runId') == ARGV[base + 1] then
    redis.call('DEL', KEYS[4], KEYS[3])
    redis.call('SREM', KEYS[5], sessionId)
    touchSession(KEYS[6], KEYS[7], sessionId, ARGV[base + 4])
  end
end

local count = redis.call('XLEN', KEYS[1])
if count > maxEvents or bytes > maxBytes then
  local lastDropped = nil
  local cursor = '-'
  while count > 1 and (count > maxEvents or bytes > maxBytes) do
    local entries = redis.call('XRANGE', KEYS[1], cursor, '+', 'COUNT', 128)
    if #entries == 0 then break end
    for _, entry in ipairs(entries) do
      if count <= 1 or (count <= maxEvents and bytes <= maxBytes) then break end
      count = count - 1
      bytes = bytes - #(fieldOf(entry[2], 'j') or '')
      lastDropped = entry[1]
    end
    cursor = '(' .. entries[#entries][1]
  end
  if lastDropped then
    redis.call('XTRIM', KEYS[1], 'MINID', string.match(lastDropped, '^(%d+)-') .. '-1')
  end
  if bytes < 0 then bytes = 0 end
end
redis.call('HSET', KEYS[2], 'latest', latestText, 'bytes', bytes)
return {'ok', latestText, oldestSeq()}
`;

/**
 * A consistent view of a session's log for the mirror.
 * KEYS: meta log   ARGV: firstSeq count
 * Reply: {latest, oldest, entries from firstSeq (at most count)}
 */
const SNAPSHOT = `
local latest = redis.call('HGET', KEYS[1], 'latest') or '0'
local first = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1)
local oldest = '0'
if #first > 0 then oldest = string.match(first[1][1], '^(%d+)-') end
local entries = {}
if tonumber(ARGV[2]) > 0 then entries = redis.call('XRANGE', KEYS[2], ARGV[1] .. '-0', '+', 'COUNT', ARGV[2]) end
return {latest, oldest, entries}
`;

/**
 * Starts a run: its record and lease, unless the session has an unfinished run.
 * KEYS: run lease meta runs sessions session
 * ARGV: sessionId runId nodeId provider startedAt token leaseMs
 * Reply: {'acquired', latest} | {'held', record fields, leaseAlive 0|1}
 */
const ACQUIRE = `${TOUCH_SESSION}
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {'held', redis.call('HGETALL', KEYS[1]), redis.call('EXISTS', KEYS[2])}
end
local latest = redis.call('HGET', KEYS[3], 'latest') or '0'
redis.call('HSET', KEYS[1], 'runId', ARGV[2], 'nodeId', ARGV[3], 'provider', ARGV[4], 'startedAt', ARGV[5],
  'firstSeq', tonumber(latest) + 1, 'pending', '[]', 'token', ARGV[6])
redis.call('SET', KEYS[2], ARGV[6], 'PX', ARGV[7])
redis.call('SADD', KEYS[4], ARGV[1])
touchSession(KEYS[5], KEYS[6], ARGV[1], ARGV[5])
return {'acquired', latest}
`;

/**
 * A fresh lease for a run whose lease expired.
 * KEYS: run lease meta   ARGV: runId token leaseMs nodeId
 * Reply: the session's latest seq, or nil when the run ended or its lease is live.
 */
const TAKE_OVER = `
if redis.call('HGET', KEYS[1], 'runId') ~= ARGV[1] then return false end
if redis.call('EXISTS', KEYS[2]) == 1 then return false end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
redis.call('HSET', KEYS[1], 'nodeId', ARGV[4], 'token', ARGV[2])
return redis.call('HGET', KEYS[3], 'latest') or '0'
`;

/** KEYS: lease   ARGV: token leaseMs   Reply: 1 renewed, 0 not ours (expired or taken over). */
const RENEW = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`;

/** KEYS: run lease runs   ARGV: token sessionId   Reply: 1 deleted, 0 the record is not this token's. */
const RELEASE = `
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
redis.call('SREM', KEYS[3], ARGV[2])
return 1
`;

/** KEYS: lease run   ARGV: token pendingJson   Reply: 1 written, 0 not ours. */
const SET_PENDING = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[2], 'pending', ARGV[2])
return 1
`;

/**
 * KEYS: session sessions   ARGV: sessionId at maxSessions ('' for no cap), then field value pairs
 * Reply: 'created' | 'exists' | 'limit'. The count and the insert are one step: the cap is exact.
 */
const CREATE_SESSION = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 'exists' end
if ARGV[3] ~= '' and redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[3]) then return 'limit' end
if #ARGV > 3 then
  redis.call('HSET', KEYS[1], 'createdAt', ARGV[2], 'updatedAt', ARGV[2], unpack(ARGV, 4))
else
  redis.call('HSET', KEYS[1], 'createdAt', ARGV[2], 'updatedAt', ARGV[2])
end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
return 'created'
`;

/** KEYS: sessions session   ARGV: sessionId at */
const TOUCH = `${TOUCH_SESSION}
touchSession(KEYS[1], KEYS[2], ARGV[1], ARGV[2])
return 1
`;

/** KEYS: session sessions   ARGV: sessionId providerSessionId at   Reply: 1 set, 0 no such session. */
const ASSIGN_PROVIDER_SESSION = `${TOUCH_SESSION}
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'providerSessionId', ARGV[2])
touchSession(KEYS[2], KEYS[1], ARGV[1], ARGV[3])
return 1
`;

/** KEYS: session sessions   ARGV: sessionId   Reply: 1 when there was a session. */
const DELETE_SESSION = `
local deleted = redis.call('DEL', KEYS[1])
local unlisted = redis.call('ZREM', KEYS[2], ARGV[1])
if deleted + unlisted > 0 then return 1 end
return 0
`;

/**
 * One page of the listing, newest activity first, ties by id descending (byte order, as SQLite's
 * BINARY collation). After a cursor (score, id): a binary search inside the block of members
 * sharing the score finds the first one below the id, so a page costs O(log n) however many
 * sessions share a timestamp.
 * KEYS: sessions   ARGV: count hasCursor cursorScore cursorId
 * Reply: ZREVRANGE … WITHSCORES (id, score, id, score…)
 */
const LIST_SESSIONS = `
local function bytesBefore(a, b)
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end
local start = 0
if ARGV[2] == '1' then
  local above = redis.call('ZCOUNT', KEYS[1], '(' .. ARGV[3], '+inf')
  local ties = redis.call('ZCOUNT', KEYS[1], ARGV[3], ARGV[3])
  local lo, hi = above, above + ties
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    local member = redis.call('ZREVRANGE', KEYS[1], mid, mid)[1]
    if bytesBefore(member, ARGV[4]) then hi = mid else lo = mid + 1 end
  end
  start = lo
end
return redis.call('ZREVRANGE', KEYS[1], start, start + tonumber(ARGV[1]) - 1, 'WITHSCORES')
`;

/**
 * A node's heartbeat, stamped with the server's clock (nodes' clocks may disagree); forgets
 * nodes silent for `forgetAfterMs`, which bounds the set.
 * KEYS: nodes   ARGV: nodeId forgetAfterMs
 */
const ANNOUNCE_NODE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. (now - tonumber(ARGV[2])))
return 1
`;

/** KEYS: nodes   ARGV: windowMs   Reply: the nodes announced within the window (server clock). */
const ALIVE_NODES = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. (now - tonumber(ARGV[1])), '+inf')
`;

/** KEYS: shell   ARGV: nodeId ttlMs   Reply: 1 renewed (or re-set after expiry), 0 another node holds it. */
const RENEW_SHELL = `
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
`;

/** KEYS: shell   ARGV: nodeId   Reply: 1 deleted, 0 not this node's. */
const DROP_SHELL = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1
`;

const SCRIPTS = {
  agAppend: APPEND,
  agSnapshot: SNAPSHOT,
  agAcquire: ACQUIRE,
  agTakeOver: TAKE_OVER,
  agRenew: RENEW,
  agRelease: RELEASE,
  agSetPending: SET_PENDING,
  agCreateSession: CREATE_SESSION,
  agTouch: TOUCH,
  agAssignProviderSession: ASSIGN_PROVIDER_SESSION,
  agDeleteSession: DELETE_SESSION,
  agListSessions: LIST_SESSIONS,
  agAnnounceNode: ANNOUNCE_NODE,
  agAliveNodes: ALIVE_NODES,
  agRenewShell: RENEW_SHELL,
  agDropShell: DROP_SHELL,
} as const;

export type ScriptName = keyof typeof SCRIPTS;
export type ScriptArg = string | number;

type ScriptMethod<R> = (...args: ScriptArg[]) => R;

/** The scripts registered on one connection, called by name with their keys and arguments. */
export class RedisScripts {
  constructor(private readonly redis: Redis) {
    // No fixed key count: each call passes its keys' count first, as EVALSHA takes it.
    for (const [name, lua] of Object.entries(SCRIPTS)) redis.defineCommand(name, { lua });
  }

  run(name: ScriptName, keys: readonly string[], args: readonly ScriptArg[]): Promise<unknown> {
    const method = (this.redis as unknown as Record<ScriptName, ScriptMethod<Promise<unknown>>>)[name];
    return method.call(this.redis, keys.length, ...keys, ...args);
  }

  /** Adds a call to a pipeline (its reply comes with the pipeline's `exec`). */
  queue(pipeline: ChainableCommander, name: ScriptName, keys: readonly string[], args: readonly ScriptArg[]): void {
    const method = (pipeline as unknown as Record<ScriptName, ScriptMethod<ChainableCommander>>)[name];
    method.call(pipeline, keys.length, ...keys, ...args);
  }
}
