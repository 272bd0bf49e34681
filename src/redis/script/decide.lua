-- Only the algorithm in use is built (each call builds its functions anew).
local algorithms = {
  ['gcra'] = make_bucket, ['token-bucket'] = make_bucket, ['leaky-bucket'] = make_bucket,
  ['fixed-window'] = make_fixed, ['sliding-window'] = make_sliding, ['sliding-log'] = make_log,
}

local function gcd(a, b)
  while b ~= 0 do a, b = b, a % b end
  return a
end

-- One call: the functions below are built per call (see make_bucket).
local function decide(KEYS, ARGV)
pcall(redis.replicate_commands)
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
  lim.gcra = ARGV[5] == 'gcra'
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
  if keep_ttl then return end -- a cancel only makes the key fresher: its TTL still holds
  local ttl = ceildiv(sub(fresh, now), 1000) -- ms
  if lt(ttl, 1) then ttl = 1 end
  -- At an explicit time (a replay, a test) the server's clock says nothing
  -- of when the key goes idle: keep it a minute at least.
  if explicit_time and lt(ttl, 60000) then ttl = 60000 end
  redis.call('PEXPIRE', key, tostr(add(ttl, 1)))
end

if mode == 'cancel' then
  for i = 1, count do states[i] = algorithm.cancel(limits[i], states[i], extra, cost) end
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
end
return decide(KEYS, ARGV)
