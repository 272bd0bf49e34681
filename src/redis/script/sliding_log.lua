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
  d.remaining = max(0, sub(sub(N, total), (d.allowed and not commit) and cost or 0))
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
function log.cancel(lim, st, at, cost)
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

