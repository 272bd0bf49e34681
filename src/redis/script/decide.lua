-- The families by algorithm name: builders, so that a call builds only its own.
local FAMILIES = {
  ['gcra'] = bucket, ['token-bucket'] = bucket, ['leaky-bucket'] = bucket,
  ['fixed-window'] = fixed_window, ['sliding-window'] = sliding_window, ['sliding-log'] = sliding_log,
}

-- All limits decide at `at`; allowed iff all allow.
local function decide_all(decide_one, count, at, cost, plain)
  local allowed, limit, remaining, retry, reset = decide_one(LIMITS[1], at, cost, plain)
  if count == 1 and allowed and not CALL.exact then return true, limit, remaining, 0, reset end -- reset >= 0
  if allowed then retry = 0 end
  if count == 1 and not CALL.exact then
    if reset < 0 then reset = 0 end
    if retry ~= NEVER and retry < 0 then retry = 0 end
    return allowed, limit, remaining, retry, reset
  end
  local X = built(exact_numbers)
  if retry ~= NEVER then retry = X.max(0, retry) end
  reset = X.max(0, reset)
  for i = 2, count do
    local a, l, r, t, s = decide_one(LIMITS[i], at, cost, plain)
    if X.lt(r, remaining) then remaining, limit = r, l end
    if not a then
      allowed = false
      if t == NEVER or retry == NEVER then retry = NEVER else retry = X.max(retry, t) end
    end
    reset = X.max(reset, s)
  end
  return allowed, limit, remaining, retry, reset
end

-- Parses the limits into LIMITS, unless they are the last call's.
local function parse_limits(ARGV, count)
  local last = 6 + 3 * count
  if POLICY.last == last then
    local same = true
    for j = 7, last do
      if ARGV[j] ~= POLICY[j] then
        same = false
        break
      end
    end
    if same then return end
  end
  POLICY.last = nil -- until these are parsed
  for i = 1, count do
    local base = 3 * i + 3
    local n, p, burst = parse(ARGV[base + 1], 'count'), parse(ARGV[base + 2], 'period'), parse(ARGV[base + 3], 'burst')
    if type(n) ~= 'number' or type(p) ~= 'number' or type(burst) ~= 'number' or n < 1 or p < 1 or burst < 1 then
      error('leaksnek: malformed limit')
    end
    local a, b = n, p
    while b ~= 0 do a, b = b, a % b end
    local r = LIMITS[i]
    if not r then
      r = {}
      LIMITS[i] = r
    end
    r.count, r.period, r.burst, r.pn, r.pt = n, p, burst, n / a, p / a
    local cap = burst * r.pt
    r.big = cap >= SAFE
    if r.big then cap = built(exact_numbers).mul(burst, r.pt) end
    r.cap = cap
  end
  for j = 7, last do POLICY[j] = ARGV[j] end
  POLICY.last = last
end

-- One call: reads the states, decides (and for reserve, decides again at the
-- time the request fits), writes what changed, replies.
local function decide(KEYS, ARGV)
  local key, mode = KEYS[1], ARGV[1]
  CALL.exact = false
  local explicit = ARGV[2] ~= ''
  local now
  if explicit then
    now = parse(ARGV[2], 'time')
  else
    -- Effects replication, so that writes may follow TIME: the default from
    -- Redis 5, the only mode from 7 (which has REDIS_VERSION_NUM).
    if not redis.REDIS_VERSION_NUM then pcall(redis.replicate_commands) end
    local t = redis.call('TIME')
    now = t[1] * 1000000 + t[2] -- two decimals, seconds and microseconds
  end
  -- Cost and wait as the last call's when their text is (plain numbers only).
  local cost, extra = ARGV[3], ARGV[4]
  if cost == MEMO.cost_text then
    cost = MEMO.cost
  else
    cost = parse(cost, 'cost')
    MEMO.cost_text, MEMO.cost = not CALL.exact and ARGV[3], cost
  end
  if extra == MEMO.wait_text then
    extra = MEMO.wait
  else
    extra = parse(extra, 'wait')
    MEMO.wait_text, MEMO.wait = not CALL.exact and ARGV[4], extra
  end
  local plain = not CALL.exact -- now and cost (and wait) are plain numbers
  local build = FAMILIES[ARGV[5]]
  if not build then error('leaksnek: unknown algorithm ' .. tostring(ARGV[5])) end
  local family = BUILT[build] or built(build)
  local count = ARGV[6] == '1' and 1 or tonumber(ARGV[6])
  if not count or count < 1 or count > 8 or count % 1 ~= 0 then error('leaksnek: a policy takes 1 to 8 limits') end
  if not (count == 1 and POLICY.last == 9 and ARGV[7] == POLICY[7] and ARGV[8] == POLICY[8]
      and ARGV[9] == POLICY[9]) then
    parse_limits(ARGV, count)
  end
  family.load(key, count)

  if mode == 'cancel' then
    family.cancel(key, count, extra, cost, ARGV[5] == 'gcra')
    return {1, 0, 0, 0, 0, 0, out(now)}
  end

  local decide_one = family.decide
  local allowed, limit, remaining, retry, reset = decide_all(decide_one, count, now, cost, plain)
  local wait, at = 0, now
  if not allowed and mode == 'reserve' and retry ~= NEVER then
    local X = built(exact_numbers)
    if X.le(retry, X.mul(extra, 1000)) then
      wait = X.ceildiv(retry, 1000) -- us: booked on the next microsecond the request fits
      at = X.add(now, wait)
      plain = plain and type(at) == 'number'
      CALL.exact = true -- the reply's wait and booked time
      allowed, limit, remaining, retry, reset = decide_all(decide_one, count, at, cost, plain)
    end
  end
  -- A lease (cost: the most wanted, extra: the request's own cost) takes
  -- what is there when that is less, down to the request's cost; denied, it
  -- is denied as the request alone would be. The reply's sixth field is what
  -- it took.
  if mode == 'lease' and not allowed then
    local X = built(exact_numbers)
    cost = X.le(extra, remaining) and remaining or extra
    plain = plain and type(cost) == 'number'
    allowed, limit, remaining, retry, reset = decide_all(decide_one, count, now, cost, plain)
  end
  -- A log commits a denial too: it forgets expired entries.
  if allowed or family.commit_denials then family.commit(key, count, at, now, explicit, allowed, cost) end
  if mode == 'lease' then wait = allowed and cost or 0 end
  if not CALL.exact then return {allowed and 1 or 0, limit, remaining, retry == NEVER and -1 or retry, reset, wait, at} end
  return {allowed and 1 or 0, out(limit), out(remaining), retry == NEVER and -1 or out(retry), out(reset),
    wait == 0 and 0 or (mode == 'lease' and out(wait) or out(built(exact_numbers).ns(wait))), out(at)}
end

return decide(KEYS, ARGV)
