-- leaksnek: one rate limit decision, atomically, in Redis. The mirror of the
-- C++ algorithms (include/leaksnek/algorithms), checked against them on
-- random traces (tests/redis/script_equivalence_test.cpp).
--
-- KEYS[1]  a hash holding the key's state for every limit of the policy
-- ARGV     mode ("decide" | "reserve" | "cancel"), now in microseconds ("" for
--          the server's TIME), cost, max wait in microseconds (reserve) or the
--          reserved time in microseconds (cancel), algorithm, limit count, then
--          per limit: count, period in microseconds, burst
-- Reply    {allowed, limit, remaining, retry_after_ns (-1: never),
--          reset_after_ns, wait_ns, booked_at_us}: integers, or decimal
--          strings for values beyond 2^53
--
-- Time is kept in microseconds (the resolution of Redis's TIME); durations
-- are reported in nanoseconds, exactly as the C++ algorithms report them.
-- Numbers are exact integers: Lua numbers (doubles) while they stay below
-- 2^53, else limb tables (base 10^7); see the arithmetic below.
--
-- Shaped for Redis Functions as well as EVALSHA: the chunk only defines,
-- and its last line runs decide(), the one function that touches KEYS, ARGV
-- and redis.*. A library replaces that line with redis.register_function, so
-- that what is defined here is built once, at load. EVALSHA instead runs the
-- whole chunk per call, so each algorithm family and the exact big-number
-- arithmetic are modules built on first use (built()): a call builds only
-- what it uses, and a library keeps them. A call then allocates little: the
-- records of LIMITS are reused, numbers go to redis.call as numbers (Redis
-- writes an integer below 2^53 in full), and function bodies name the
-- standard library as globals (a library's load sees none of them).

-- Per limit, reused from call to call (1..count): the limit (count, period
-- in us, burst; pn, pt: count and period over their gcd; cap = burst * pt),
-- its state as loaded (present, s1..s3) and as decided (t1..t3); a log's
-- fields besides.
local LIMITS = {}
-- The limit arguments of the last call that parsed them: an unchanged policy
-- (the common case) is not parsed again.
local POLICY = {}
-- The arguments of a multi-limit HMGET or HSET.
local ARGS = {}
-- This call: `exact` once a value may be beyond 2^53 (a table): replies and
-- writes then convert with out(), instead of taking plain numbers as they are.
local CALL = {}
-- The last call's cost and wait arguments, parsed.
local MEMO = {}
