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
function sliding.cancel(lim, st, at, cost)
  if not st then return st end
  local window = floordiv(at, lim.p)
  if cmp(st.w, window) == 0 then st.c = max(0, sub(st.c, cost)) end
  if cmp(st.w, add(window, 1)) == 0 then st.p = max(0, sub(st.p, cost)) end
  return st
end
function sliding.fresh_at(lim, st) return mul(add(st.w, 2), lim.p) end
return sliding
end

