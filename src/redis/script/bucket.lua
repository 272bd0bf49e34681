-- Fixed-size states (every family but the log), per limit i: fields i.<name>,
-- loaded into and stored from the LIMITS records, one command each.
local F_L = {'1.l', '2.l', '3.l', '4.l', '5.l', '6.l', '7.l', '8.l'}
local F_U = {'1.u', '2.u', '3.u', '4.u', '5.u', '6.u', '7.u', '8.u'}
local F_W = {'1.w', '2.w', '3.w', '4.w', '5.w', '6.w', '7.w', '8.w'}
local F_P = {'1.p', '2.p', '3.p', '4.p', '5.p', '6.p', '7.p', '8.p'}
local F_C = {'1.c', '2.c', '3.c', '4.c', '5.c', '6.c', '7.c', '8.c'}
-- The server time (us) the key's TTL runs to, as last set (see expiry()).
local F_X = 'x'

-- Reads 2 or 3 fields per limit (f1, f2, f3) into s1..s3; a limit has all its
-- fields or none. And F_X into CALL.expires.
local function load_fields(key, count, f1, f2, f3, what1, what2, what3)
  local v
  if count == 1 and not f3 then -- the common case, directly
    v = redis.call('HMGET', key, f1[1], f2[1], F_X)
    CALL.expires = tonumber(v[3])
    local a, b, r = v[1], v[2], LIMITS[1]
    if a and b then
      local x, y = tonumber(a), tonumber(b) -- plain(), inline
      if x and (x % 1 ~= 0 or x >= SAFE or x <= -SAFE) then x = nil end
      if y and (y % 1 ~= 0 or y >= SAFE or y <= -SAFE) then y = nil end
      r.present, r.s_big = true, not (x and y)
      if r.s_big then x, y = parse(a, what1), parse(b, what2) end
      r.s1, r.s2 = x, y
    elseif a or b then
      error('leaksnek: malformed state (missing fields)')
    else
      r.present = false
    end
    return
  end
  local k = f3 and 3 or 2
  if count == 1 then
    if f3 then v = redis.call('HMGET', key, f1[1], f2[1], f3[1], F_X) else v = redis.call('HMGET', key, f1[1], f2[1], F_X) end
  else
    local m = 0
    for i = 1, count do
      ARGS[m + 1], ARGS[m + 2] = f1[i], f2[i]
      m = m + 2
      if f3 then ARGS[m + 1] = f3[i]; m = m + 1 end
    end
    ARGS[m + 1] = F_X
    v = redis.call('HMGET', key, unpack(ARGS, 1, m + 1))
  end
  CALL.expires = tonumber(v[count * k + 1])
  for i = 1, count do
    local r = LIMITS[i]
    local base = (i - 1) * k
    local a, b, c = v[base + 1], v[base + 2], f3 and v[base + 3]
    if a and b and (c or not f3) then
      local x, y, z = plain(a), plain(b), f3 and plain(c)
      r.present, r.s_big = true, not (x and y and (z or not f3))
      if r.s_big then x, y, z = parse(a, what1), parse(b, what2), f3 and parse(c, what3) end
      r.s1, r.s2, r.s3 = x, y, z
    elseif a or b or c then
      error('leaksnek: malformed state (missing fields)')
    else
      r.present = false
    end
  end
end

-- Writes each limit's fields: the decided states t1..t3 of all, or (`loaded`)
-- the states s1..s3 of those present; and F_X = `expires` when given.
local function store_fields(key, count, f1, f2, f3, loaded, expires)
  local r = LIMITS[1]
  if count == 1 and not loaded and not r.t_big then -- the common case, directly
    if f3 and expires then
      redis.call('HSET', key, f1[1], r.t1, f2[1], r.t2, f3[1], r.t3, F_X, expires)
    elseif f3 then
      redis.call('HSET', key, f1[1], r.t1, f2[1], r.t2, f3[1], r.t3)
    elseif expires then
      redis.call('HSET', key, f1[1], r.t1, f2[1], r.t2, F_X, expires)
    else
      redis.call('HSET', key, f1[1], r.t1, f2[1], r.t2)
    end
    return
  end
  local m = 0
  for i = 1, count do
    local r = LIMITS[i]
    if not loaded and not r.t_big then
      ARGS[m + 1], ARGS[m + 2], ARGS[m + 3], ARGS[m + 4] = f1[i], r.t1, f2[i], r.t2
      m = m + 4
      if f3 then ARGS[m + 1], ARGS[m + 2] = f3[i], r.t3; m = m + 2 end
    elseif not loaded then
      ARGS[m + 1], ARGS[m + 2], ARGS[m + 3], ARGS[m + 4] = f1[i], out(r.t1), f2[i], out(r.t2)
      m = m + 4
      if f3 then ARGS[m + 1], ARGS[m + 2] = f3[i], out(r.t3); m = m + 2 end
    elseif r.present then
      ARGS[m + 1], ARGS[m + 2], ARGS[m + 3], ARGS[m + 4] = f1[i], out(r.s1), f2[i], out(r.s2)
      m = m + 4
      if f3 then ARGS[m + 1], ARGS[m + 2] = f3[i], out(r.s3); m = m + 2 end
    end
  end
  if expires then
    ARGS[m + 1], ARGS[m + 2] = F_X, expires
    m = m + 2
  end
  if m == 4 then
    redis.call('HSET', key, ARGS[1], ARGS[2], ARGS[3], ARGS[4])
  elseif m == 6 then
    redis.call('HSET', key, ARGS[1], ARGS[2], ARGS[3], ARGS[4], ARGS[5], ARGS[6])
  elseif m > 0 then
    redis.call('HSET', key, unpack(ARGS, 1, m))
  end
end

-- The key's TTL: until `fresh` (us), when every limit is fresh again.
local function pexpire(key, fresh, now, explicit)
  local ttl
  local x = (not CALL.exact or type(fresh) == 'number' and type(now) == 'number') and fresh - now
  if x and x < HALF and x > -HALF then
    ttl = -fdiv(-x, 1000) -- ms
    if ttl < 1 then ttl = 1 end
    -- At an explicit time (a replay, a test) the server's clock says nothing
    -- of when the key goes idle: keep it a minute at least.
    if explicit and ttl < 60000 then ttl = 60000 end
    redis.call('PEXPIRE', key, ttl + 1)
  else
    local X = built(exact_numbers)
    ttl = X.ceildiv(X.sub(fresh, now), 1000)
    if X.lt(ttl, 1) then ttl = 1 end
    if explicit and X.lt(ttl, 60000) then ttl = 60000 end
    redis.call('PEXPIRE', key, out(X.add(ttl, 1)))
  end
end

-- Writes the decided states and keeps the key until `fresh` (us), when every
-- limit is fresh again. The TTL is set again only once a state outlives it,
-- and then with as much again to spare (a second at least), so a busy key
-- pays for PEXPIRE about once per period (or second) rather than on every
-- decision; an idle key lingers at most twice as long as it must, or a second. At an explicit time or on the exact path, as
-- pexpire() says, and F_X cleared (the next call sets the TTL).
local function commit_fields(key, count, f1, f2, f3, fresh, now, explicit)
  if not explicit and not CALL.exact and type(fresh) == 'number' and type(now) == 'number' then
    local covered = CALL.expires
    if covered and fresh + 1000 <= covered then return store_fields(key, count, f1, f2, f3) end
    local need = fresh - now
    if need < HALF then
      local ttl = -fdiv(-need, 1000) -- ms
      if ttl < 1 then ttl = 1 end
      ttl = ttl + (ttl > 1000 and ttl or 1000) + 1
      store_fields(key, count, f1, f2, f3, false, now + ttl * 1000)
      redis.call('PEXPIRE', key, ttl)
      return
    end
  end
  store_fields(key, count, f1, f2, f3, false, 0)
  pexpire(key, fresh, now, explicit)
end

-- A family of fixed-size states (all but the log): its fields, its decision
-- on plain numbers (`fast`, nil when a value would leave them; `plain_limits`:
-- only for limits below 2^53), its exact module (decide, fresh, cancel), and
-- when a decided state is fresh on plain numbers (false: ask the exact module).
local function fixed_size_family(f1, f2, f3, what1, what2, what3, fast, exact, fresh_plain, plain_limits)
  local family = {}
  function family.load(key, count) load_fields(key, count, f1, f2, f3, what1, what2, what3) end
  function family.decide(r, at, cost, plain)
    if plain and not (plain_limits and r.big) and not (r.present and r.s_big) then
      local allowed, limit, remaining, retry, reset = fast(r, at, cost)
      if allowed ~= nil then
        r.t_big = false
        return allowed, limit, remaining, retry, reset
      end
    end
    CALL.exact, r.t_big = true, true
    return built(exact).decide(r, at, cost)
  end
  -- Stores the allowed states; the key lives until every state is fresh.
  function family.commit(key, count, at, now, explicit)
    local fresh = 0
    for i = 1, count do
      local r = LIMITS[i]
      local f = not r.t_big and fresh_plain(r)
      if not f or f >= SAFE or f <= -SAFE then f = built(exact).fresh(r) end
      if CALL.exact then fresh = larger(fresh, f) elseif f > fresh then fresh = f end
    end
    commit_fields(key, count, f1, f2, f3, fresh, now, explicit)
  end
  function family.cancel(key, count, at, cost, gcra) built(exact).cancel(key, count, at, cost, gcra) end
  return family
end

-- The bucket family (gcra, token-bucket, leaky-bucket decide identically):
-- state s1 = l units used at time s2 = u (us); one token is pt units, one
-- microsecond of refill pn units.

-- The exact path, any magnitude: the reference the fast path must match.
local function bucket_exact()
  local X = built(exact_numbers)
  local add, sub, mul, lt, max, floordiv, ceildiv = X.add, X.sub, X.mul, X.lt, X.max, X.floordiv, X.ceildiv

  local function remaining(used, cap, pt)
    if not lt(used, cap) then return 0 end
    return floordiv(sub(cap, used), pt)
  end

  local exact = {}
  -- The decision of limit r at `at` (us) for `cost`: allowed, limit,
  -- remaining, retry (ns or NEVER), reset (ns); an allowed one's state in t.
  function exact.decide(r, at, cost)
    local pn, pt, cap, burst = r.pn, r.pt, r.cap, r.burst
    local used = 0
    if r.present then used = max(0, sub(r.s1, mul(sub(at, r.s2), pn))) end
    if lt(burst, cost) then
      return false, burst, remaining(used, cap, pt), NEVER, ceildiv(mul(used, 1000), pn)
    end
    local after = add(used, mul(cost, pt))
    if lt(cap, after) then
      return false, burst, remaining(used, cap, pt), ceildiv(mul(sub(after, cap), 1000), pn),
        ceildiv(mul(used, 1000), pn)
    end
    r.t1, r.t2 = after, at
    return true, burst, remaining(after, cap, pt), 0, ceildiv(mul(after, 1000), pn)
  end
  -- When the decided bucket is empty again.
  function exact.fresh(r) return add(r.t2, ceildiv(max(r.t1, 0), r.pn)) end
  -- The arrival time moves back by the cost (gcra); the token bucket never
  -- holds more than full, nor the leaky bucket less than empty.
  function exact.cancel(key, count, at, cost, gcra)
    for i = 1, count do
      local r = LIMITS[i]
      if r.present then
        local l = sub(r.s1, mul(cost, r.pt))
        if not gcra and lt(l, 0) then l = 0 end
        r.s1 = l
      end
    end
    store_fields(key, count, F_L, F_U, nil, true)
  end
  return exact
end

local function bucket()
  -- exact.decide on plain numbers, each result checked below 2^53 (then the
  -- double is exact: an integer result that fits is rounded to itself, one
  -- that does not stays beyond the bound); nil when any leaves that range.
  local function fast(r, at, cost)
    local pn, pt, cap, burst = r.pn, r.pt, r.cap, r.burst
    local used = 0
    if r.present then
      local l, u = r.s1, r.s2
      local x = at - u
      if x >= SAFE or x <= -SAFE then return nil end
      x = x * pn
      if x >= SAFE or x <= -SAFE then return nil end
      x = l - x
      if x >= HALF then return nil end
      if x > 0 then used = x end
    end
    local after = cost * pt
    if after >= HALF then return nil end
    after = used + after
    if after >= HALF then return nil end
    if burst < cost or cap < after then -- denied: as of `used`
      local reset = used * 1000
      if reset >= HALF then return nil end
      local remaining = 0
      if used < cap then
        remaining = cap - used
        if remaining >= HALF then return nil end
        remaining = fdiv(remaining, pt)
      end
      if burst < cost then return false, burst, remaining, NEVER, -fdiv(-reset, pn) end
      local retry = (after - cap) * 1000
      if retry >= HALF then return nil end
      return false, burst, remaining, -fdiv(-retry, pn), -fdiv(-reset, pn)
    end
    local reset = after * 1000
    if reset >= HALF then return nil end
    local remaining = 0
    if after < cap then
      remaining = cap - after
      if remaining >= HALF then return nil end
      remaining = fdiv(remaining, pt)
    end
    r.t1, r.t2 = after, at
    return true, burst, remaining, 0, -fdiv(-reset, pn)
  end

  -- A bucket is fresh once it is empty.
  return fixed_size_family(F_L, F_U, nil, 'level', 'time', nil, fast, bucket_exact, function(r)
    local l = r.t1
    return l < HALF and r.t2 + (l > 0 and -fdiv(-l, r.pn) or 0)
  end, true)
end
