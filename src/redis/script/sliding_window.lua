-- sliding-window: state s1 = w, the window, s2 = p, the previous window's
-- cost, s3 = c, the current's

-- As bucket_exact: the reference, any magnitude.
local function sliding_window_exact()
  local X = built(exact_numbers)
  local add, sub, mul, lt, le, eq, max, floordiv = X.add, X.sub, X.mul, X.lt, X.le, X.eq, X.max, X.floordiv
  local ceildiv, ns, queued = X.ceildiv, X.ns, X.queued

  local function remaining_of(estimate, NP, P)
    local room = sub(NP, estimate)
    if le(room, 0) then return 0 end
    return floordiv(room, P)
  end

  local function reset_of(c, p, until_next, P)
    if lt(0, c) then return ns(add(until_next, P)) end
    if lt(0, p) then return ns(until_next) end
    return 0
  end

  local exact = {}
  function exact.decide(r, at, cost)
    local P, N = r.period, r.count
    local window = floordiv(at, P)
    local present, w = r.present, r.s1
    if present and lt(window, w) then
      local start = mul(w, P)
      local allowed, limit, remaining, retry, reset = exact.decide(r, start, cost)
      return queued(allowed, limit, remaining, retry, reset, sub(start, at))
    end
    local rw, rp, rc
    if present and not lt(w, window) then
      rw, rp, rc = w, r.s2, r.s3
    else
      rw, rp, rc = window, (present and eq(add(w, 1), window)) and r.s3 or 0, 0
    end
    local start = mul(rw, P)
    local elapsed = max(0, sub(at, start))
    local until_next = sub(add(start, P), at)
    local estimate = add(mul(rp, sub(P, elapsed)), mul(rc, P))
    local NP = mul(N, P)
    local remaining, reset = remaining_of(estimate, NP, P), reset_of(rc, rp, until_next, P)
    if lt(N, cost) then return false, N, remaining, NEVER, reset end
    local after = add(estimate, mul(cost, P))
    if le(after, NP) then
      local c = add(rc, cost)
      r.t1, r.t2, r.t3 = rw, rp, c
      return true, N, remaining_of(after, NP, P), 0, reset_of(c, rp, until_next, P)
    end
    local room = sub(sub(N, rc), cost)
    local retry
    if lt(0, room) and lt(0, rp) then
      retry = ceildiv(ns(sub(mul(until_next, rp), mul(room, P))), rp)
    elseif le(rc, sub(N, cost)) then
      retry = ns(until_next)
    else
      retry = ceildiv(ns(sub(mul(add(until_next, P), rc), mul(sub(N, cost), P))), rc)
    end
    return false, N, remaining, retry, reset
  end
  function exact.fresh(r) return mul(add(r.t1, 2), r.period) end
  function exact.cancel(key, count, at, cost)
    for i = 1, count do
      local r = LIMITS[i]
      if r.present then
        local window = floordiv(at, r.period)
        if eq(r.s1, window) then r.s3 = max(0, sub(r.s3, cost)) end
        if eq(r.s1, add(window, 1)) then r.s2 = max(0, sub(r.s2, cost)) end
      end
    end
    store_fields(key, count, F_W, F_P, F_C, true)
  end
  return exact
end

local function sliding_window()
  -- sliding_remaining on plain numbers below 2^53; nil beyond.
  local function remaining_fast(estimate, NP, P)
    local room = NP - estimate
    if room >= HALF or room <= -SAFE then return nil end
    if room <= 0 then return 0 end
    return fdiv(room, P)
  end

  -- As in bucket(): plain numbers, every result checked; nil beyond.
  local function fast(r, at, cost)
    local P, N = r.period, r.count
    if at >= HALF or at <= -HALF then return nil end
    local window = fdiv(at, P)
    local rp, rc = 0, 0
    if r.present then
      local w, p, c = r.s1, r.s2, r.s3
      if window < w then
        local start = w * P
        if start >= HALF then return nil end
        local allowed, limit, remaining, retry, reset = fast(r, start, cost)
        if allowed == nil then return nil end
        local ahead = (start - at) * 1000
        if ahead >= SAFE then return nil end
        reset = reset + ahead
        if reset >= SAFE then return nil end
        if retry ~= NEVER then
          retry = retry + ahead
          if retry >= SAFE then return nil end
        end
        return false, limit, 0, retry, reset
      end
      -- The state's window is this one or older (then it starts afresh here).
      if w == window then
        rp, rc = p, c
      elseif w + 1 == window then
        rp = c
      end
    end
    -- window * P <= at < window * P + P, so 0 <= elapsed < P.
    local elapsed = window * P
    if elapsed <= -SAFE then return nil end
    elapsed = at - elapsed
    local until_next = P - elapsed
    local estimate = rp * until_next
    if estimate >= SAFE or estimate <= -SAFE then return nil end
    local x = rc * P
    if x >= SAFE or x <= -SAFE then return nil end
    estimate = estimate + x
    if estimate >= SAFE or estimate <= -SAFE then return nil end
    local NP = N * P
    if NP >= SAFE then return nil end
    local remaining = remaining_fast(estimate, NP, P)
    if not remaining then return nil end
    local reset = 0
    if rc > 0 then reset = (until_next + P) * 1000 elseif rp > 0 then reset = until_next * 1000 end
    if reset >= SAFE then return nil end
    if N < cost then return false, N, remaining, NEVER, reset end
    local after = cost * P
    if after >= SAFE or after <= -SAFE then return nil end
    after = estimate + after
    if after >= SAFE or after <= -SAFE then return nil end
    if after <= NP then
      local c = rc + cost
      if c >= SAFE or c <= -SAFE then return nil end
      remaining = remaining_fast(after, NP, P)
      if not remaining then return nil end
      reset = c > 0 and (until_next + P) * 1000 or (rp > 0 and until_next * 1000 or 0)
      if reset >= SAFE then return nil end
      r.t1, r.t2, r.t3 = window, rp, c
      return true, N, remaining, 0, reset
    end
    local room = N - rc
    if room >= SAFE or room <= -SAFE then return nil end
    room = room - cost
    if room >= SAFE or room <= -SAFE then return nil end
    local retry, d
    if room > 0 and rp > 0 then
      retry = until_next * rp
      if retry >= SAFE or retry <= -SAFE then return nil end
      x = room * P
      if x >= SAFE then return nil end
      retry, d = retry - x, rp
    elseif rc <= N - cost then
      retry = until_next * 1000
      if retry >= SAFE then return nil end
      return false, N, remaining, retry, reset
    else
      retry = (until_next + P) * rc
      if retry >= SAFE or retry <= -SAFE then return nil end
      x = (N - cost) * P
      if x >= SAFE or x <= -SAFE then return nil end
      retry, d = retry - x, rc
    end
    retry = retry * 1000
    if retry >= HALF or retry <= -HALF then return nil end
    return false, N, remaining, -fdiv(-retry, d), reset
  end

  -- A window is fresh once it has left the estimate (two periods after it began).
  return fixed_size_family(F_W, F_P, F_C, 'window', 'count', 'count', fast, sliding_window_exact,
    function(r) return (r.t1 + 2) * r.period end)
end
