-- The model router's shared state for one endpoint, changed atomically (runtime/limiter.py documents the keys).
-- Clock: the Redis server's TIME, so workers on hosts with skewed clocks share one window.
-- KEYS: 1 win (zset id -> arrival ms), 2 tok (hash id -> tokens), 3 total (tokens in the window), 4 conc (zset id ->
--       expiry ms), 5 pause (until ms), 6 open (breaker open until ms), 7 probe (half-open probe taken), 8 fails
--       (zset of failure ms), 9 stats (hash of counters), 10 own (hash id -> "<owner key>\n<job>" of a bulk
--       reservation), 11 owntot (hash owner key -> its tokens in the window), 12 jobtot (hash "<owner key>\n<job>" ->
--       that job's tokens in the window)
-- ARGV[1] is the operation; the rest depend on it.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local op = ARGV[1]
local win, tok, total, conc, pause, open, probe, fails, stats, own, owntot, jobtot =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10], KEYS[11], KEYS[12]

local function key_of(who)
  return string.match(who, '^(.-)\n') or who
end

-- Add `delta` tokens to the owner key and the job of a bulk reservation; a total that reaches 0 leaves its hash.
local function owner_add(id, delta)
  local who = redis.call('HGET', own, id)
  if not who then return nil end
  local key = key_of(who)
  if redis.call('HINCRBY', owntot, key, delta) <= 0 then redis.call('HDEL', owntot, key) end
  if redis.call('HINCRBY', jobtot, who, delta) <= 0 then redis.call('HDEL', jobtot, who) end
  return who
end

-- How long until the oldest entry of the window whose bulk owner passes `mine` leaves it.
local function oldest_of(mine, window)
  local entries = redis.call('ZRANGE', win, 0, -1, 'WITHSCORES')
  for i = 1, #entries, 2 do
    local who = redis.call('HGET', own, entries[i])
    if who and mine(who) then return tonumber(entries[i + 1]) + window - now end
  end
  return window
end

-- Fair shares of bulk work: with n owner keys holding tokens in the window none may hold more than tpm / n, and
-- within a key with m jobs holding tokens none may hold more than the key's share / m. A key or job holding nothing
-- may always take one call (else a call larger than its share would wait for ever). A wait, or nil.
local function share_wait(key, job, need, tpm, window)
  local who = key .. '\n' .. job
  local mine = tonumber(redis.call('HGET', owntot, key) or '0')
  local n = redis.call('HLEN', owntot)
  if mine == 0 then n = n + 1 end
  local share = tpm / n
  if n > 1 and mine > 0 and mine + need > share then
    return oldest_of(function(w) return key_of(w) == key end, window)
  end
  local held, m = tonumber(redis.call('HGET', jobtot, who) or '0'), 0
  for _, w in ipairs(redis.call('HKEYS', jobtot)) do
    if key_of(w) == key then m = m + 1 end
  end
  if held == 0 then m = m + 1 end
  if m > 1 and held > 0 and held + need > share / m then
    return oldest_of(function(w) return w == who end, window)
  end
  return nil
end

local function expire_window(window)
  local old = redis.call('ZRANGEBYSCORE', win, '-inf', now - window)
  for _, id in ipairs(old) do
    local n = redis.call('HGET', tok, id)
    if n then
      redis.call('DECRBY', total, n); redis.call('HDEL', tok, id)
      if owner_add(id, -tonumber(n)) then redis.call('HDEL', own, id) end
    end
  end
  if #old > 0 then redis.call('ZREMRANGEBYSCORE', win, '-inf', now - window) end
end

local function refuse(wait, reason)
  redis.call('HINCRBY', stats, 'throttled', 1)
  redis.call('HINCRBY', stats, 'throttled_ms', math.max(0, wait))
  redis.call('HINCRBY', stats, 'throttled_' .. reason, 1)
  return {0, math.max(1, wait), reason}
end

if op == 'reserve' then
  -- ARGV: id, tokens, rpm, tpm, concurrency, window ms, in-flight ttl ms (0 = no limit), bulk ('1' = a bulk call,
  -- shared fairly), its owner key, its job
  local id, need, bulk, owner, job = ARGV[2], tonumber(ARGV[3]), ARGV[9] == '1', ARGV[10] or '', ARGV[11] or ''

  local rpm, tpm, cmax = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
  local window, ttl = tonumber(ARGV[7]), tonumber(ARGV[8])
  local until_open = tonumber(redis.call('GET', open) or '0')
  if until_open > now then return refuse(until_open - now, 'open') end
  if until_open > 0 and redis.call('SET', probe, id, 'NX', 'PX', ttl) == false then
    return refuse(1000, 'open')  -- half open: one probe at a time
  end
  local until_pause = tonumber(redis.call('GET', pause) or '0')
  if until_pause > now then return refuse(until_pause - now, 'paused') end
  expire_window(window)
  if rpm > 0 and redis.call('ZCARD', win) >= rpm then
    local first = redis.call('ZRANGE', win, 0, 0, 'WITHSCORES')
    return refuse(tonumber(first[2]) + window - now, 'rpm')
  end
  if tpm > 0 then
    if need > tpm then need = tpm end  -- larger than the whole limit: it waits for an empty window
    local used = tonumber(redis.call('GET', total) or '0')
    if used + need > tpm then
      local entries = redis.call('ZRANGE', win, 0, -1, 'WITHSCORES')
      local freed = 0
      for i = 1, #entries, 2 do
        freed = freed + tonumber(redis.call('HGET', tok, entries[i]) or '0')
        if used - freed + need <= tpm then return refuse(tonumber(entries[i + 1]) + window - now, 'tpm') end
      end
      return refuse(window, 'tpm')
    end
    if bulk then
      local wait = share_wait(owner, job, need, tpm, window)
      if wait then return refuse(wait, 'share') end
    end
  end
  if cmax > 0 then
    redis.call('ZREMRANGEBYSCORE', conc, '-inf', now)  -- slots of crashed workers expire
    if redis.call('ZCARD', conc) >= cmax then return refuse(200, 'concurrency') end
    redis.call('ZADD', conc, now + ttl, id)
    redis.call('PEXPIRE', conc, ttl * 2)
  end
  redis.call('ZADD', win, now, id)
  redis.call('HSET', tok, id, need)
  redis.call('INCRBY', total, need)
  if bulk and tpm > 0 then
    redis.call('HSET', own, id, owner .. '\n' .. job); owner_add(id, need)
  end
  for _, k in ipairs({win, tok, total, own, owntot, jobtot}) do redis.call('PEXPIRE', k, window * 2) end
  redis.call('HINCRBY', stats, 'reserved', 1)
  return {1, 0, 'ok'}

elseif op == 'settle' then
  -- ARGV: id, tokens (-1: the provider never saw the call, release it; -2: keep the estimate), outcome (ok | fail |
  -- none), then for the breaker: window ms, failures to open, open ms
  local id, tokens, outcome = ARGV[2], tonumber(ARGV[3]), ARGV[4]
  redis.call('ZREM', conc, id)
  local held = redis.call('HGET', tok, id)
  if held and tokens ~= -2 then
    if tokens < 0 then
      redis.call('DECRBY', total, held); redis.call('HDEL', tok, id); redis.call('ZREM', win, id)
      if owner_add(id, -tonumber(held)) then redis.call('HDEL', own, id) end
    else
      redis.call('INCRBY', total, tokens - tonumber(held)); redis.call('HSET', tok, id, tokens)
      owner_add(id, tokens - tonumber(held))
      -- The provider counted the call when it arrived, after we reserved it: from now on the entry leaves our
      -- window no earlier than it leaves the provider's, so a call waking exactly at our expiry is never early.
      redis.call('ZADD', win, 'XX', now, id)
    end
  end
  if outcome == 'ok' then
    if redis.call('EXISTS', open) == 1 then redis.call('HINCRBY', stats, 'breaker_closed', 1) end
    redis.call('DEL', fails, open, probe)
    redis.call('HINCRBY', stats, 'served', 1)
    if tokens > 0 then redis.call('HINCRBY', stats, 'tokens', tokens) end
  elseif outcome == 'fail' then
    local window, threshold, open_ms = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
    redis.call('HINCRBY', stats, 'failures', 1)
    redis.call('ZADD', fails, now, id)
    redis.call('ZREMRANGEBYSCORE', fails, '-inf', now - window)
    redis.call('PEXPIRE', fails, window)
    local probing = redis.call('GET', probe)
    if probing == id or redis.call('ZCARD', fails) >= threshold then
      redis.call('SET', open, now + open_ms)
      redis.call('DEL', probe, fails)
      redis.call('HINCRBY', stats, 'breaker_opened', 1)
      return {1, open_ms, 'opened'}
    end
  end
  return {1, 0, 'settled'}

elseif op == 'pause' then
  -- ARGV: ms. A pause only ever grows: an earlier, shorter Retry-After never ends a longer one.
  local ms = tonumber(ARGV[2])
  local current = tonumber(redis.call('GET', pause) or '0')
  redis.call('HINCRBY', stats, 'provider_429', 1)
  if current >= now + ms then return {1, current - now, 'kept'} end
  redis.call('SET', pause, now + ms, 'PX', ms)
  return {1, ms, 'paused'}

elseif op == 'count' then
  -- ARGV: field. A counter only (failovers).
  redis.call('HINCRBY', stats, ARGV[2], 1)
  return {1, 0, 'counted'}

elseif op == 'state' then
  -- ARGV: window ms. The window's use now, for `genai-flow stats`.
  expire_window(tonumber(ARGV[2]))
  redis.call('ZREMRANGEBYSCORE', conc, '-inf', now)
  local until_open = tonumber(redis.call('GET', open) or '0')
  local breaker = 'closed'
  if until_open > now then breaker = 'open' elseif until_open > 0 then breaker = 'half_open' end
  local until_pause = tonumber(redis.call('GET', pause) or '0')
  return {redis.call('ZCARD', win), tonumber(redis.call('GET', total) or '0'), redis.call('ZCARD', conc), breaker,
          math.max(0, until_pause - now), redis.call('HGETALL', stats)}
end
return redis.error_reply('unknown limiter operation ' .. tostring(op))
