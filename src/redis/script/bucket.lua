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
function bucket.cancel(lim, st, at, cost)
  if not st then return st end
  st.l = sub(st.l, mul(cost, lim.pt))
  if not lim.gcra and lt(st.l, 0) then st.l = 0 end
  return st
end
function bucket.fresh_at(lim, st) return add(st.u, ceildiv(max(st.l, 0), lim.pn)) end
return bucket
end

