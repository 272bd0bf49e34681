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
  local d = {allowed = false, limit = lim.n, retry = 0, remaining = max(0, sub(lim.n, used))}
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
function fixed.cancel(lim, st, at, cost)
  if st and cmp(st.w, floordiv(at, lim.p)) == 0 then st.c = max(0, sub(st.c, cost)) end
  return st
end
function fixed.fresh_at(lim, st) return mul(add(st.w, 1), lim.p) end
return fixed
end

