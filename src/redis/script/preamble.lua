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

-- Effects replication, so that writes may follow TIME (the default from Redis 5).
pcall(redis.replicate_commands)
