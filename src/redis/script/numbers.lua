-- Exact integers: Lua numbers (doubles) below 2^53, limb tables (base 10^7)
-- beyond. A call on plain numbers stays on the top-level helpers here and the
-- algorithms' fast paths; the exact arithmetic is a module built on first use.
local SAFE = 9007199254740992 -- 2^53
local HALF = 4503599627370496 -- 2^52
local NEVER = 'never' -- a retry that never comes

-- floor(a / b) of plain numbers, |a| < 2^52 and b >= 1: the double quotient,
-- corrected (q * b stays exact in that range). q - q % 1 is floor(q),
-- exactly, without a call.
local function fdiv(a, b)
  local q = a / b
  q = q - q % 1
  local r = a - q * b
  while r < 0 do q = q - 1; r = r + b end
  while r >= b do q = q + 1; r = r - b end
  return q
end

-- Modules, each built once (per library; per call under EVALSHA).
local BUILT = {}
local function built(build)
  local m = BUILT[build]
  if not m then
    m = build()
    BUILT[build] = m
  end
  return m
end

-- The exact arithmetic every algorithm family's exact path uses.
local function exact_numbers()
  local B = 10000000

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
    if type(a) == 'number' and type(b) == 'number' and a < HALF and a > -HALF then return fdiv(a, b) end
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

  local function parse(s, what)
    local v = tonumber(s)
    if v and v % 1 == 0 and v < SAFE and v > -SAFE then return v end -- the common case, fast
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

  -- ns from microseconds
  local function ns(us) return mul(us, 1000) end

  -- queued_behind: a decision made as of `ahead` us later, seen from now.
  local function queued(allowed, limit, remaining, retry, reset, ahead)
    if retry ~= NEVER then retry = add(retry, ns(ahead)) end
    return false, limit, 0, retry, add(reset, ns(ahead))
  end

  local function eq(a, b) return cmp(a, b) == 0 end

  return {add = add, sub = sub, neg = neg, mul = mul, cmp = cmp, lt = lt, le = le, eq = eq, max = max,
          floordiv = floordiv, ceildiv = ceildiv, tostr = tostr, parse = parse, ns = ns, queued = queued}
end

-- A decimal as a plain number, or nil unless it is one below 2^53.
local function plain(s)
  local v = tonumber(s)
  if v and v % 1 == 0 and v < SAFE and v > -SAFE then return v end
end

-- A decimal argument: a plain number (the common case, without the exact
-- module), else exact.
local function parse(s, what)
  local v = plain(s)
  if v then return v end
  CALL.exact = true
  return built(exact_numbers).parse(s, what)
end

-- A reply field or command argument: a number below 2^53 as is (an integer to
-- Redis), beyond as a decimal string.
local function out(x)
  if type(x) == 'number' then return x end
  return built(exact_numbers).tostr(x)
end

-- max(a, b), plain numbers inline.
local function larger(a, b)
  if type(a) == 'number' and type(b) == 'number' then
    if a < b then return b end
    return a
  end
  return built(exact_numbers).max(a, b)
end
