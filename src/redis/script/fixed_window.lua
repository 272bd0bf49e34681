-- fixed-window: state s1 = w, the window number, s2 = c, the cost allowed in it

-- As bucket_exact: the reference, any magnitude.
local function fixed_window_exact()
  local X = built(exact_numbers)
  local add, sub, mul, lt, le, eq, max, floordiv = X.add, X.sub, X.mul, X.lt, X.le, X.eq, X.max, X.floordiv
  local ns, queued = X.ns, X.queued

  local exact = {}
  function exact.decide(r, at, cost)
    local p, n = r.period, r.count
    local window = floordiv(at, p)
    if r.present and lt(window, r.s1) then
      local start = mul(r.s1, p)
      local allowed, limit, remaining, retry, reset = exact.decide(r, start, cost)
      return queued(allowed, limit, remaining, retry, reset, sub(start, at))
    end
    local used = (r.present and eq(r.s1, window)) and r.s2 or 0
    local until_next = ns(sub(mul(add(window, 1), p), at))
    local remaining = max(0, sub(n, used))
    local reset = lt(0, used) and until_next or 0
    if lt(n, cost) then return false, n, remaining, NEVER, reset end
    local after = add(used, cost)
    if le(after, n) then
      r.t1, r.t2 = window, after
      return true, n, sub(n, after), 0, until_next
    end
    return false, n, remaining, until_next, reset
  end
  function exact.fresh(r) return mul(add(r.t1, 1), r.period) end
  function exact.cancel(key, count, at, cost)
    for i = 1, count do
      local r = LIMITS[i]
      if r.present and eq(r.s1, floordiv(at, r.period)) then r.s2 = max(0, sub(r.s2, cost)) end
    end
    store_fields(key, count, F_W, F_C, nil, true)
  end
  return exact
end

local function fixed_window()
  -- As in bucket(): plain numbers, every result checked; nil beyond.
  local function fast(r, at, cost)
    local p, n = r.period, r.count
    if at >= HALF or at <= -HALF then return nil end
    local window = fdiv(at, p)
    local used = 0
    if r.present then
      local w, c = r.s1, r.s2
      if window < w then
        local start = w * p
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
      if w == window then used = c end
    end
    local until_next = (window + 1) * p
    if until_next >= SAFE then return nil end
    until_next = (until_next - at) * 1000
    if until_next >= SAFE then return nil end
    local remaining = n - used
    if remaining >= SAFE then return nil end
    if remaining < 0 then remaining = 0 end
    local reset = used > 0 and until_next or 0
    if n < cost then return false, n, remaining, NEVER, reset end
    local after = used + cost
    if after >= SAFE or after <= -SAFE then return nil end
    if after <= n then
      r.t1, r.t2 = window, after
      return true, n, n - after, 0, until_next
    end
    return false, n, remaining, until_next, reset
  end

  -- A window is fresh once it has ended.
  return fixed_size_family(F_W, F_C, nil, 'window', 'count', nil, fast, fixed_window_exact,
    function(r) return (r.t1 + 1) * r.period end)
end
