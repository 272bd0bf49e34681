-- sliding-log: limit i's log is the run of entries i.e<seq> = "time cum" for
-- seq in [h, n): times increasing, cum the cost of the log through the entry,
-- so that the cost of any run is a difference. Its header i.log =
-- "h n g b ht hc tt tc": b the cum before the head, ht/hc and tt/tc the time
-- and cum of the head and of the last entry (when h < n). A decision reads
-- the header, and only to forget expired entries or to find when a denial
-- fits does it read entries, O(log n) by binary search. Forgotten entries in
-- [g, h) are deleted LOG_GC per decision; the key's TTL takes what is left
-- once idle. (Logs of the format before, fields i.h, i.n, i.t, i.<seq>, read
-- as absent and go with the key.)
local function sliding_log()
  local X = built(exact_numbers)
  local add, sub, lt, le, eq, max, ns, queued = X.add, X.sub, X.lt, X.le, X.eq, X.max, X.ns, X.queued
  local tostr = X.tostr
  local family = {commit_denials = true}

  local LOG_HEAD = {'1.log', '2.log', '3.log', '4.log', '5.log', '6.log', '7.log', '8.log'}
  local LOG_ENTRY = {'1.e', '2.e', '3.e', '4.e', '5.e', '6.e', '7.e', '8.e'}
  local LOG_GC = 32

  local function entry(key, i, seq)
    local raw = redis.call('HGET', key, string.format('%s%.0f', LOG_ENTRY[i], seq))
    local time, cum = string.match(raw or '', '^(%-?%d+) (%d+)$')
    if not time then error('leaksnek: malformed sliding log entry ' .. tostring(raw)) end
    return parse(time, 'entry time'), parse(cum, 'entry cost')
  end

  -- Decimal texts, in one string.format while the numbers are plain (each
  -- call of it costs about a microsecond).
  local function entry_text(time, cum)
    if type(time) == 'number' and type(cum) == 'number' then return string.format('%.0f %.0f', time, cum) end
    return tostr(time) .. ' ' .. tostr(cum)
  end

  local function set_entry(key, i, seq, time, cum)
    redis.call('HSET', key, string.format('%s%.0f', LOG_ENTRY[i], seq), entry_text(time, cum))
  end

  local function header(st)
    local b, ht, hc, tt, tc = st.b, st.ht, st.hc, st.tt, st.tc
    if type(b) == 'number' and type(ht) == 'number' and type(hc) == 'number' and type(tt) == 'number'
        and type(tc) == 'number' then
      return string.format('%.0f %.0f %.0f %.0f %.0f %.0f %.0f %.0f', st.h, st.n, st.g, b, ht, hc, tt, tc)
    end
    return string.format('%.0f %.0f %.0f ', st.h, st.n, st.g) .. tostr(b) .. ' ' .. tostr(ht) .. ' ' .. tostr(hc)
      .. ' ' .. tostr(tt) .. ' ' .. tostr(tc)
  end

  local function parse_header(key, i, raw)
    local st = LIMITS[i]
    st.i, st.key, st.push, st.popped, st.dirty = i, key, false, false, false
    if not raw then
      st.present = false
      st.h, st.n, st.g, st.b, st.ht, st.hc, st.tt, st.tc = 0, 0, 0, 0, 0, 0, 0, 0
      return
    end
    local h, n, g, b, ht, hc, tt, tc = string.match(raw, '^(%d+) (%d+) (%d+) (%d+) (%-?%d+) (%d+) (%-?%d+) (%d+)$')
    if not h then error('leaksnek: malformed sliding log ' .. raw) end
    h, n, g = tonumber(h), tonumber(n), tonumber(g)
    if h >= SAFE or n >= SAFE or g > h or h > n then error('leaksnek: malformed sliding log ' .. raw) end
    st.present, st.h, st.n, st.g = true, h, n, g
    st.b, st.hc, st.tc = parse(b, 'log cost'), parse(hc, 'log cost'), parse(tc, 'log cost')
    st.ht, st.tt = parse(ht, 'entry time'), parse(tt, 'entry time')
  end

  function family.load(key, count)
    if count == 1 then return parse_header(key, 1, redis.call('HGET', key, LOG_HEAD[1])) end
    local v = redis.call('HMGET', key, unpack(LOG_HEAD, 1, count))
    for i = 1, count do parse_header(key, i, v[i]) end
  end

  -- Forgets the entries expired at `at` (time + P <= at): a gallop from the
  -- head (a busy log loses a few per decision), then a binary search.
  local function pop(st, at, P)
    if st.h == st.n or lt(at, add(st.ht, P)) then return end
    st.popped, st.dirty = true, true
    if le(add(st.tt, P), at) then
      st.h, st.b, st.tc = st.n, 0, 0 -- empty: cums start again from 0
      return
    end
    -- Entry lo has expired, entry hi has not.
    local key = st.key
    local lo, lo_c, hi, hi_t, hi_c = st.h, st.hc, st.n - 1, st.tt, st.tc
    local step = 1
    while lo + step < hi do
      local seq = lo + step
      local t, c = entry(key, st.i, seq)
      if lt(at, add(t, P)) then
        hi, hi_t, hi_c = seq, t, c
        break
      end
      lo, lo_c, step = seq, c, step * 2
    end
    while hi - lo > 1 do
      local mid = math.floor((lo + hi) / 2)
      local t, c = entry(key, st.i, mid)
      if lt(at, add(t, P)) then hi, hi_t, hi_c = mid, t, c else lo, lo_c = mid, c end
    end
    st.h, st.b, st.ht, st.hc = hi, lo_c, hi_t, hi_c
  end

  -- The time of the first entry whose cum reaches `target` (<= tc).
  local function find(st, target)
    if le(target, st.hc) then return st.ht end
    local lo, hi, hi_t = st.h, st.n - 1, st.tt
    while hi - lo > 1 do
      local mid = math.floor((lo + hi) / 2)
      local t, c = entry(st.key, st.i, mid)
      if le(target, c) then hi, hi_t = mid, t else lo = mid end
    end
    return hi_t
  end

  -- The decision at `at` >= every entry's time; `commit`: log it if allowed
  -- (st.push: family.commit appends it if every limit allows).
  local function decide_at(st, at, cost, commit)
    local P, N = st.period, st.count
    pop(st, at, P)
    local total = sub(st.tc, st.b)
    local allowed, retry = false, 0
    if le(cost, N) and le(add(total, cost), N) then
      allowed = true
      if commit then
        st.push = true
        total = add(total, cost)
      end
    elseif lt(N, cost) then
      retry = NEVER
    else
      -- The first entry whose leaving frees the excess.
      local time = find(st, add(st.b, sub(add(total, cost), N)))
      retry = ns(sub(add(time, P), at))
    end
    local remaining = max(0, sub(sub(N, total), (allowed and not commit) and cost or 0))
    local reset = 0
    if st.push then
      reset = ns(P)
    elseif st.h < st.n then
      reset = ns(sub(add(st.tt, P), at))
    end
    return allowed, N, remaining, retry, reset
  end

  -- A log whose newest entry is later than `at` (a booked wait, a clock gone
  -- back) queues the request behind that entry.
  function family.decide(st, at, cost)
    CALL.exact = true -- cums and times may be beyond 2^53
    st.push = false
    if st.h == st.n or le(st.tt, at) then return decide_at(st, at, cost, true) end
    local newest = st.tt
    local allowed, limit, remaining, retry, reset = decide_at(st, newest, cost, false)
    return queued(allowed, limit, remaining, retry, reset, sub(newest, at))
  end

  -- Deletes up to LOG_GC forgotten entries.
  local function gc(key, i, st)
    local stop = st.h
    if stop - st.g > LOG_GC then stop = st.g + LOG_GC end
    if stop == st.g then return end
    for seq = st.g, stop - 1 do ARGS[seq - st.g + 1] = string.format('%s%.0f', LOG_ENTRY[i], seq) end
    redis.call('HDEL', key, unpack(ARGS, 1, stop - st.g))
    st.g, st.dirty = stop, true
  end

  -- Appends the allowed request (merged into the last entry at the same time),
  -- writes the changed headers, and the key lives until every log has emptied.
  function family.commit(key, count, at, now, explicit, allowed, cost)
    local touched, fresh = false, 0
    for i = 1, count do
      local st = LIMITS[i]
      local appended
      if allowed and st.push then
        if st.h < st.n and eq(st.tt, at) then
          appended = st.n - 1
          st.tc = add(st.tc, cost)
          if st.h == appended then st.hc = st.tc end
        else
          appended = st.n
          local c = add(st.tc, cost)
          if st.h == st.n then st.ht, st.hc = at, c end
          st.n, st.tt, st.tc = st.n + 1, at, c
        end
        st.present, st.dirty = true, true
      end
      touched = touched or st.popped or appended ~= nil
      gc(key, i, st)
      if appended then
        redis.call('HSET', key, string.format('%s%.0f', LOG_ENTRY[i], appended), entry_text(st.tt, st.tc),
          LOG_HEAD[i], header(st))
      elseif st.dirty then
        redis.call('HSET', key, LOG_HEAD[i], header(st))
      end
      if st.present and st.h < st.n then fresh = max(fresh, add(st.tt, st.period)) end
    end
    if touched then pexpire(key, fresh, now, explicit) end
  end

  -- Uncounts up to `cost` from the entry at `at`, which stays as a mark of
  -- time. Every cum from it on drops, or (fewer writes) every cum before it and
  -- b rise: O(min of the entries before and after it), and the entries after a
  -- booked time are only the later bookings.
  function family.cancel(key, count, at, cost)
    for i = 1, count do
      local st = LIMITS[i]
      if st.present and st.h < st.n and le(st.ht, at) and le(at, st.tt) then
        local j, cj
        if eq(at, st.ht) then
          j, cj = st.h, st.hc
        elseif eq(at, st.tt) then
          j, cj = st.n - 1, st.tc
        else
          local lo, hi = st.h, st.n - 1
          while hi - lo > 1 do
            local mid = math.floor((lo + hi) / 2)
            local t, c = entry(key, i, mid)
            if eq(t, at) then
              j, cj = mid, c
              break
            end
            if lt(t, at) then lo = mid else hi = mid end
          end
        end
        if j then
          local before = st.b
          if j > st.h then
            local _, c = entry(key, i, j - 1)
            before = c
          end
          local taken = sub(cj, before)
          if lt(cost, taken) then taken = cost end
          if lt(0, taken) then
            if st.n - j <= j - st.h then
              for seq = j, st.n - 1 do
                local t, c = entry(key, i, seq)
                set_entry(key, i, seq, t, sub(c, taken))
              end
              st.tc = sub(st.tc, taken)
              if j == st.h then st.hc = sub(st.hc, taken) end
            else
              for seq = st.h, j - 1 do
                local t, c = entry(key, i, seq)
                set_entry(key, i, seq, t, add(c, taken))
              end
              st.b = add(st.b, taken)
              if j > st.h then st.hc = add(st.hc, taken) end
            end
            redis.call('HSET', key, LOG_HEAD[i], header(st))
          end
        end
      end
    end
  end

  return family
end
