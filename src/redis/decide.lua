-- leaksnek: one rate limit decision, atomically, in Redis. The mirror of the
-- C++ algorithms (include/leaksnek/algorithms), checked against them on
-- random traces (tests/redis/script_equivalence_test.cpp).
--
-- KEYS[1]  a hash holding the key's state for every limit of the policy
-- ARGV     mode ("decide" | "reserve" | "give"), now in microseconds ("" for
--          the server's TIME), cost, max wait in microseconds (reserve) or the
--          booked time in microseconds (give), algorithm, limit count, then
--          per limit: count, period in microseconds, burst
-- Reply    {allowed, limit, remaining, retry_after_ns (-1: never),
--          reset_after_ns, wait_ns, booked_at_us}: integers, or decimal
--          strings for values beyond 2^53
--
-- Time is kept in microseconds (the resolution of Redis's TIME); durations
-- are reported in nanoseconds, exactly as the C++ algorithms report them.
-- Numbers are exact integers: Lua numbers (doubles) while they stay below
-- 2^53, else limb tables (base 10^7); see the arithmetic below.

-- Effects replication, so that writes may follow TIME (the default from Redis 5).
pcall(redis.replicate_commands)

local B = 10000000
local SAFE = 9007199254740992 -- 2^53
local HALF = 4503599627370496 -- 2^52

local function big(x)
  if type(x) == 'table' then return x end
  local t = {s = 1}
  if x < 0 then t.s = -1; x = -x end
  local i = 0
  while x > 0 do
    local l = x % B
    i = i + 1; t[i] = l; x = (x - l) / B
  end
  return t
end

local function norm(t)
  local n = #t
  while n > 0 and t[n] == 0 do t[n] = nil; n = n - 1 end
  if n == 0 then return 0 end
  if n <= 3 then
    local v = 0
    for i = n, 1, -1 do v = v * B + t[i] end
    if v < SAFE then return t.s * v end
  end
  return t
end

local function cmpmag(a, b)
  if #a ~= #b then return #a < #b and -1 or 1 end
  for i = #a, 1, -1 do
    if a[i] ~= b[i] then return a[i] < b[i] and -1 or 1 end
  end
  return 0
end

local function addmag(a, b, s)
  local r, c = {s = s}, 0
  for i = 1, math.max(#a, #b) do
    local v = (a[i] or 0) + (b[i] or 0) + c
    if v >= B then r[i] = v - B; c = 1 else r[i] = v; c = 0 end
  end
  if c > 0 then r[#r + 1] = c end
  return r
end

local function submag(a, b, s) -- |a| >= |b|
  local r, c = {s = s}, 0
  for i = 1, #a do
    local v = a[i] - (b[i] or 0) - c
    if v < 0 then r[i] = v + B; c = 1 else r[i] = v; c = 0 end
  end
  return r
end

local function sign(a)
  if type(a) == 'number' then return a < 0 and -1 or (a > 0 and 1 or 0) end
  return #a == 0 and 0 or a.s
end

local function add(a, b)
  if type(a) == 'number' and type(b) == 'number' then
    local r = a + b
    if r < SAFE and r > -SAFE then return r end
  end
  a, b = big(a), big(b)
  if #a == 0 then return norm(b) end
  if #b == 0 then return norm(a) end
  if a.s == b.s then return norm(addmag(a, b, a.s)) end
  if cmpmag(a, b) >= 0 then return norm(submag(a, b, a.s)) end
  return norm(submag(b, a, b.s))
end

local function neg(a)
  if type(a) == 'number' then return -a end
  local r = {s = -a.s}
  for i = 1, #a do r[i] = a[i] end
  return r
end

local function sub(a, b) return add(a, neg(b)) end

local function mul(a, b)
  if type(a) == 'number' and type(b) == 'number' then
    local r = a * b
    if r < SAFE and r > -SAFE then return r end
  end
  a, b = big(a), big(b)
  local r = {s = a.s * b.s}
  for i = 1, #a + #b do r[i] = 0 end
  for i = 1, #a do
    local c, ai = 0, a[i]
    for j = 1, #b do
      local v = r[i + j - 1] + ai * b[j] + c
      c = math.floor(v / B)
      r[i + j - 1] = v - c * B
    end
    local k = i + #b
    while c > 0 do
      local v = r[k] + c
      c = math.floor(v / B)
      r[k] = v - c * B
      k = k + 1
    end
  end
  return norm(r)
end

local function cmp(a, b)
  if type(a) == 'number' and type(b) == 'number' then
    return a < b and -1 or (a > b and 1 or 0)
  end
  local sa, sb = sign(a), sign(b)
  if sa ~= sb then return sa < sb and -1 or 1 end
  if sa == 0 then return 0 end
  local m = cmpmag(big(a), big(b))
  return sa > 0 and m or -m
end

local function lt(a, b) return cmp(a, b) < 0 end
local function le(a, b) return cmp(a, b) <= 0 end
local function max(a, b) if lt(a, b) then return b end return a end

local function tofloat(a)
  if type(a) == 'number' then return a end
  local v = 0
  for i = #a, 1, -1 do v = v * B + a[i] end
  return a.s * v
end

-- floor(a / b) for a >= 0, b > 0: quotient estimates from doubles, always
-- below the true quotient, each correct to about 50 bits.
local function divpos(a, b)
  local q, r = 0, a
  local bf = tofloat(b)
  while not lt(r, b) do
    local e = tofloat(r) / bf * (1 - 2 ^ -50)
    local shift = 0
    while e >= HALF do
      e = e / B * (1 - 2 ^ -50)
      shift = shift + 1
    end
    e = math.floor(e)
    if e < 1 then e = 1 end
    local eb = e
    if shift > 0 then
      local t, m = {s = 1}, big(e)
      for i = 1, shift do t[i] = 0 end
      for i = 1, #m do t[shift + i] = m[i] end
      eb = norm(t)
    end
    q = add(q, eb)
    r = sub(r, mul(eb, b))
  end
  -- Rounding of very long operands may overshoot by one: step back.
  while sign(r) < 0 do q = sub(q, 1); r = add(r, b) end
  return q
end

-- floor(a / b) for b > 0.
local function floordiv(a, b)
  if type(a) == 'number' and type(b) == 'number' and a < HALF and a > -HALF then
    local q = math.floor(a / b)
    local r = a - q * b
    while r < 0 do q = q - 1; r = r + b end
    while r >= b do q = q + 1; r = r - b end
    return q
  end
  if sign(a) >= 0 then return divpos(a, b) end
  -- floor(-x / b) = -ceil(x / b) = -floor((x + b - 1) / b)
  return neg(divpos(add(neg(a), sub(b, 1)), b))
end

local function ceildiv(a, b) return neg(floordiv(neg(a), b)) end

local function tostr(a)
  if type(a) == 'number' then return string.format('%.0f', a) end
  local parts = {a.s < 0 and '-' or '', string.format('%d', a[#a])}
  for i = #a - 1, 1, -1 do parts[#parts + 1] = string.format('%07d', a[i]) end
  return table.concat(parts)
end

-- A reply field: an integer as a number (exact below 2^53), beyond as a decimal string.
local function out(x) if type(x) == 'number' then return x end return tostr(x) end

local function parse(s, what)
  local v = tonumber(s)
  if v and v == math.floor(v) and v < SAFE and v > -SAFE then return v end -- the common case, fast
  if type(s) ~= 'string' or not string.match(s, '^%-?%d+$') or #s > 40 then
    error('leaksnek: malformed ' .. what .. ' ' .. tostring(s))
  end
  local negative = string.sub(s, 1, 1) == '-'
  local digits = negative and string.sub(s, 2) or s
  if #digits <= 15 then
    local v = tonumber(digits)
    return negative and -v or v
  end
  local t = {s = negative and -1 or 1}
  local i = 0
  for stop = #digits, 1, -7 do
    i = i + 1
    t[i] = tonumber(string.sub(digits, math.max(1, stop - 6), stop))
  end
  return norm(t)
end

local NEVER = 'never'

-- ns from microseconds
local function ns(us) return mul(us, 1000) end

-- queued_behind: a decision made as of `ahead` us later, seen from now.
local function queued(d, ahead)
  d.allowed = false
  d.remaining = 0
  if d.retry ~= NEVER then d.retry = add(d.retry, ns(ahead)) end
  d.reset = add(d.reset, ns(ahead))
  return d
end

-- The bucket family (gcra, token-bucket, leaky-bucket decide identically):
-- state {l = units used at time u (us)}; one token is pt units, one
-- microsecond of refill pn units.
local function make_bucket()
local bucket = {}
function bucket.fields(i) return {i .. '.l', i .. '.u'} end
function bucket.load(v) if v[1] then return {l = parse(v[1], 'level'), u = parse(v[2], 'time')} end end
function bucket.store(i, st) return {i .. '.l', tostr(st.l), i .. '.u', tostr(st.u)} end
function bucket.used(lim, st, now)
  if not st then return 0 end
  return max(0, sub(st.l, mul(sub(now, st.u), lim.pn)))
end
function bucket.decide(lim, st, now, cost)
  local used = bucket.used(lim, st, now)
  local d = {allowed = false, limit = lim.burst, retry = 0}
  local function remaining(u) if not lt(u, lim.cap) then return 0 end return floordiv(sub(lim.cap, u), lim.pt) end
  if lt(lim.burst, cost) then
    d.retry = NEVER; d.remaining = remaining(used); d.reset = ceildiv(mul(used, 1000), lim.pn)
    return d
  end
  local after = add(used, mul(cost, lim.pt))
  if lt(lim.cap, after) then
    d.retry = ceildiv(mul(sub(after, lim.cap), 1000), lim.pn)
    d.remaining = remaining(used); d.reset = ceildiv(mul(used, 1000), lim.pn)
    return d
  end
  d.allowed = true; d.remaining = remaining(after); d.reset = ceildiv(mul(after, 1000), lim.pn)
  d.state = {l = after, u = now}
  return d
end
-- The arrival time moves back by the cost (gcra); the token bucket never
-- holds more than full, nor the leaky bucket less than empty.
function bucket.give(lim, st, at, cost)
  if not st then return st end
  st.l = sub(st.l, mul(cost, lim.pt))
  if ARGV[5] ~= 'gcra' and lt(st.l, 0) then st.l = 0 end
  return st
end
function bucket.fresh_at(lim, st) return add(st.u, ceildiv(max(st.l, 0), lim.pn)) end
return bucket
end

-- fixed-window: state {w = window number, c = allowed cost in it}
local function make_fixed()
local fixed = {}
function fixed.fields(i) return {i .. '.w', i .. '.c'} end
function fixed.load(v) if v[1] then return {w = parse(v[1], 'window'), c = parse(v[2], 'count')} end end
function fixed.store(i, st) return {i .. '.w', tostr(st.w), i .. '.c', tostr(st.c)} end
function fixed.decide(lim, st, now, cost)
  local window = floordiv(now, lim.p)
  if st and lt(window, st.w) then
    local start = mul(st.w, lim.p)
    return queued(fixed.decide(lim, st, start, cost), sub(start, now))
  end
  local used = (st and cmp(st.w, window) == 0) and st.c or 0
  local until_next = ns(sub(mul(add(window, 1), lim.p), now))
  local d = {allowed = false, limit = lim.n, retry = 0, remaining = sub(lim.n, used)}
  d.reset = lt(0, used) and until_next or 0
  if lt(lim.n, cost) then
    d.retry = NEVER
  elseif le(add(used, cost), lim.n) then
    d.allowed = true; d.state = {w = window, c = add(used, cost)}
    d.remaining = sub(lim.n, d.state.c); d.reset = until_next
  else
    d.retry = until_next
  end
  return d
end
function fixed.give(lim, st, at, cost)
  if st and cmp(st.w, floordiv(at, lim.p)) == 0 then st.c = max(0, sub(st.c, cost)) end
  return st
end
function fixed.fresh_at(lim, st) return mul(add(st.w, 1), lim.p) end
return fixed
end

-- sliding-window: state {w = window, p = previous window's cost, c = current's}
local function make_sliding()
local sliding = {}
function sliding.fields(i) return {i .. '.w', i .. '.p', i .. '.c'} end
function sliding.load(v)
  if v[1] then return {w = parse(v[1], 'window'), p = parse(v[2], 'count'), c = parse(v[3], 'count')} end
end
function sliding.store(i, st) return {i .. '.w', tostr(st.w), i .. '.p', tostr(st.p), i .. '.c', tostr(st.c)} end
function sliding.decide(lim, st, now, cost)
  local P, N = lim.p, lim.n
  local window = floordiv(now, P)
  if st and lt(window, st.w) then
    local start = mul(st.w, P)
    return queued(sliding.decide(lim, st, start, cost), sub(start, now))
  end
  local r
  if st and not lt(st.w, window) then
    r = {w = st.w, p = st.p, c = st.c}
  else
    r = {w = window, p = (st and cmp(add(st.w, 1), window) == 0) and st.c or 0, c = 0}
  end
  local start = mul(r.w, P)
  local elapsed = max(0, sub(now, start))
  local until_next = sub(add(start, P), now)
  local estimate = add(mul(r.p, sub(P, elapsed)), mul(r.c, P))
  local NP = mul(N, P)
  local function remaining(e) local room = sub(NP, e) if le(room, 0) then return 0 end return floordiv(room, P) end
  local function reset(s)
    if lt(0, s.c) then return ns(add(until_next, P)) end
    if lt(0, s.p) then return ns(until_next) end
    return 0
  end
  local d = {allowed = false, limit = N, retry = 0, remaining = remaining(estimate), reset = reset(r)}
  if lt(N, cost) then d.retry = NEVER; return d end
  local after = add(estimate, mul(cost, P))
  if le(after, NP) then
    r.c = add(r.c, cost)
    d.allowed = true; d.state = r; d.remaining = remaining(after); d.reset = reset(r)
    return d
  end
  local room = sub(sub(N, r.c), cost)
  if lt(0, room) and lt(0, r.p) then
    d.retry = ceildiv(ns(sub(mul(until_next, r.p), mul(room, P))), r.p)
  elseif le(r.c, sub(N, cost)) then
    d.retry = ns(until_next)
  else
    d.retry = ceildiv(ns(sub(mul(add(until_next, P), r.c), mul(sub(N, cost), P))), r.c)
  end
  return d
end
function sliding.give(lim, st, at, cost)
  if not st then return st end
  local window = floordiv(at, lim.p)
  if cmp(st.w, window) == 0 then st.c = max(0, sub(st.c, cost)) end
  if cmp(st.w, add(window, 1)) == 0 then st.p = max(0, sub(st.p, cost)) end
  return st
end
function sliding.fresh_at(lim, st) return mul(add(st.w, 2), lim.p) end
return sliding
end

-- sliding-log: entries i.<seq> = "time cost" for seq in [h, n), total t
local function make_log()
local log = {is_log = true}
function log.fields(i) return {i .. '.h', i .. '.n', i .. '.t'} end
function log.load(v, i, key)
  if not v[1] then return nil end
  local st = {i = i, key = key, h = parse(v[1], 'head'), n = parse(v[2], 'tail'), t = parse(v[3], 'total'),
              cache = {}, dropped = {}}
  return st
end
function log.entry(st, seq)
  local e = st.cache[seq]
  if e then return e end
  local raw = redis.call('HGET', st.key, st.i .. '.' .. seq)
  local time, cost = string.match(raw or '', '^(%-?%d+) (%d+)$')
  if not time then error('leaksnek: malformed sliding log entry ' .. tostring(raw)) end
  e = {time = parse(time, 'entry time'), cost = parse(cost, 'entry cost')}
  st.cache[seq] = e
  return e
end
function log.decide_at(lim, st, now, cost, commit)
  local P, N = lim.p, lim.n
  while st.h < st.n and le(add(log.entry(st, st.h).time, P), now) do
    st.t = sub(st.t, log.entry(st, st.h).cost)
    st.dropped[#st.dropped + 1] = st.h
    st.h = st.h + 1
  end
  local d = {allowed = false, limit = N, retry = 0, reset = 0}
  local total = st.t
  if le(cost, N) and le(add(total, cost), N) then
    d.allowed = true
    if commit then
      d.push = {time = now, cost = cost}
      total = add(total, cost)
    end
  elseif lt(N, cost) then
    d.retry = NEVER
  else
    local excess = sub(add(total, cost), N)
    local freed = 0
    for seq = st.h, st.n - 1 do
      local e = log.entry(st, seq)
      freed = add(freed, e.cost)
      if le(excess, freed) then d.retry = ns(sub(add(e.time, P), now)); break end
    end
  end
  d.remaining = sub(sub(N, total), (d.allowed and not commit) and cost or 0)
  local newest = d.push and now or (st.h < st.n and log.entry(st, st.n - 1).time)
  if newest then d.reset = ns(sub(add(newest, P), now)) end
  return d
end
function log.decide(lim, st, now, cost)
  st = st or {h = 0, n = 0, t = 0, cache = {}, dropped = {}}
  if st.h == st.n or le(log.entry(st, st.n - 1).time, now) then
    local d = log.decide_at(lim, st, now, cost, true)
    d.state = st
    if not d.allowed then d.state = (#st.dropped > 0) and st or nil; d.keep = true end
    return d
  end
  local newest = log.entry(st, st.n - 1).time
  local d = queued(log.decide_at(lim, st, newest, cost, false), sub(newest, now))
  d.state = (#st.dropped > 0) and st or nil
  d.keep = true
  return d
end
function log.give(lim, st, at, cost)
  if not st then return st end
  for seq = st.n - 1, st.h, -1 do
    local e = log.entry(st, seq)
    if cmp(e.time, at) == 0 then
      local taken = lt(cost, e.cost) and cost or e.cost
      e.cost = sub(e.cost, taken)
      st.t = sub(st.t, taken)
      st.changed = seq
      return st
    end
  end
  return st
end
function log.fresh_at(lim, st)
  if st.h == st.n then return 0 end
  return add(log.entry(st, st.n - 1).time, lim.p)
end
-- Writes a log state: dropped entries, a changed or pushed entry, the counters.
function log.store(i, st, key, push)
  for _, seq in ipairs(st.dropped) do redis.call('HDEL', key, i .. '.' .. seq) end
  st.dropped = {}
  if st.changed then
    local e = st.cache[st.changed]
    redis.call('HSET', key, i .. '.' .. st.changed, tostr(e.time) .. ' ' .. tostr(e.cost))
    st.changed = nil
  end
  if push then
    local last = st.h < st.n and log.entry(st, st.n - 1)
    if last and cmp(last.time, push.time) == 0 then
      last.cost = add(last.cost, push.cost)
      redis.call('HSET', key, i .. '.' .. (st.n - 1), tostr(last.time) .. ' ' .. tostr(last.cost))
    else
      redis.call('HSET', key, i .. '.' .. st.n, tostr(push.time) .. ' ' .. tostr(push.cost))
      st.cache[st.n] = push
      st.n = st.n + 1
    end
    st.t = add(st.t, push.cost)
  end
  return {i .. '.h', tostr(st.h), i .. '.n', tostr(st.n), i .. '.t', tostr(st.t)}
end
return log
end

-- Only the algorithm in use is built (each call builds its functions anew).
local algorithms = {
  ['gcra'] = make_bucket, ['token-bucket'] = make_bucket, ['leaky-bucket'] = make_bucket,
  ['fixed-window'] = make_fixed, ['sliding-window'] = make_sliding, ['sliding-log'] = make_log,
}

local function gcd(a, b)
  while b ~= 0 do a, b = b, a % b end
  return a
end

-- Arguments
local key = KEYS[1]
local mode = ARGV[1]
local now
local explicit_time = ARGV[2] ~= ''
if not explicit_time then
  local t = redis.call('TIME')
  now = add(mul(parse(t[1], 'server time'), 1000000), parse(t[2], 'server time'))
else
  now = parse(ARGV[2], 'time')
end
local cost = parse(ARGV[3], 'cost')
local extra = parse(ARGV[4], 'wait')
local algorithm = algorithms[ARGV[5]]
if not algorithm then error('leaksnek: unknown algorithm ' .. tostring(ARGV[5])) end
algorithm = algorithm()
local count = tonumber(ARGV[6])
if not count or count < 1 or count > 8 then error('leaksnek: a policy takes 1 to 8 limits') end
local limits = {}
for i = 1, count do
  local base = 6 + (i - 1) * 3
  local lim = {n = parse(ARGV[base + 1], 'count'), p = parse(ARGV[base + 2], 'period'), burst = parse(ARGV[base + 3], 'burst')}
  if type(lim.n) ~= 'number' or type(lim.p) ~= 'number' or type(lim.burst) ~= 'number'
      or lim.n < 1 or lim.p < 1 or lim.burst < 1 then
    error('leaksnek: malformed limit')
  end
  local g = gcd(lim.n, lim.p)
  lim.pn = lim.n / g
  lim.pt = lim.p / g
  lim.cap = mul(lim.burst, lim.pt)
  limits[i] = lim
end

-- Current states
local fields = {}
local spans = {}
for i = 1, count do
  local f = algorithm.fields(i)
  spans[i] = {#fields + 1, #f}
  for _, name in ipairs(f) do fields[#fields + 1] = name end
end
local values = redis.call('HMGET', key, unpack(fields))
local states = {}
for i = 1, count do
  local v = {}
  for j = 1, spans[i][2] do v[j] = values[spans[i][1] + j - 1] end
  local present = 0
  for j = 1, spans[i][2] do if v[j] then present = present + 1 end end
  if present ~= 0 and present ~= spans[i][2] then error('leaksnek: malformed state (missing fields)') end
  if present == 0 then v = {} end
  states[i] = algorithm.load(v, i, key)
end

-- Writes every limit's state and the key's TTL (until every limit is fresh).
local function commit(push, keep_ttl)
  local args = {}
  local fresh = 0
  for i = 1, count do
    local st = states[i]
    if st then
      local kv
      kv = algorithm.store(i, st, key, push and push[i])
      for _, x in ipairs(kv) do args[#args + 1] = x end
      fresh = max(fresh, algorithm.fresh_at(limits[i], st))
    end
  end
  if #args > 0 then redis.call('HSET', key, unpack(args)) end
  if keep_ttl then return end -- a give-back only makes the key fresher: its TTL still holds
  local ttl = ceildiv(sub(fresh, now), 1000) -- ms
  if lt(ttl, 1) then ttl = 1 end
  -- At an explicit time (a replay, a test) the server's clock says nothing
  -- of when the key goes idle: keep it a minute at least.
  if explicit_time and lt(ttl, 60000) then ttl = 60000 end
  redis.call('PEXPIRE', key, tostr(add(ttl, 1)))
end

if mode == 'give' then
  for i = 1, count do states[i] = algorithm.give(limits[i], states[i], extra, cost) end
  commit(nil, true)
  return {1, 0, 0, 0, 0, 0, out(now)}
end

-- All limits decide at `at`; allowed iff all allow (then every state commits).
local function decide_all(at)
  local combined = {allowed = true, retry = 0, reset = 0}
  local decisions = {}
  for i = 1, count do
    local d = algorithm.decide(limits[i], states[i], at, cost)
    decisions[i] = d
    if i == 1 or lt(d.remaining, combined.remaining) then combined.remaining = d.remaining; combined.limit = d.limit end
    combined.allowed = combined.allowed and d.allowed
    if not d.allowed then
      if d.retry == NEVER or combined.retry == NEVER then combined.retry = NEVER
      else combined.retry = max(combined.retry, d.retry) end
    end
    combined.reset = max(combined.reset, d.reset)
  end
  return combined, decisions
end

local function apply(decisions, allowed)
  local push = {}
  local dirty = false
  for i = 1, count do
    local d = decisions[i]
    if algorithm.is_log then
      if d.state then states[i] = d.state; dirty = true end
      if allowed and d.push then push[i] = d.push; states[i] = states[i] or d.state; dirty = true end
    elseif allowed then
      states[i] = d.state; dirty = true
    end
  end
  if dirty then commit(push) end
end

local d, decisions = decide_all(now)
local wait = 0
if not d.allowed and mode == 'reserve' and d.retry ~= NEVER and le(d.retry, mul(extra, 1000)) then
  wait = ceildiv(d.retry, 1000) -- us: booked on the next microsecond the request fits
  d, decisions = decide_all(add(now, wait))
end
apply(decisions, d.allowed)
return {d.allowed and 1 or 0, out(d.limit), out(d.remaining), d.retry == NEVER and -1 or out(d.retry), out(d.reset),
        out(ns(wait)), out(add(now, wait))}
