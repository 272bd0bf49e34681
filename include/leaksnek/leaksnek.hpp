// leaksnek: rate limiting for C++20. Include this for everything in the core
// library: values, algorithms, storages, mutexes and limiters.
#pragma once

#include <leaksnek/algorithms/algorithm.hpp>
#include <leaksnek/algorithms/fixed_window.hpp>
#include <leaksnek/algorithms/gcra.hpp>
#include <leaksnek/algorithms/leaky_bucket.hpp>
#include <leaksnek/algorithms/policy.hpp>
#include <leaksnek/algorithms/sliding_log.hpp>
#include <leaksnek/algorithms/sliding_window.hpp>
#include <leaksnek/algorithms/token_bucket.hpp>
#include <leaksnek/decorators/rate_limit.hpp>
#include <leaksnek/error.hpp>
#include <leaksnek/interfaces/limiters/rate_limiter.hpp>
#include <leaksnek/interfaces/mutexes/key_mutex.hpp>
#include <leaksnek/interfaces/storages/rate_storage.hpp>
#include <leaksnek/limiters/fixed_window.hpp>
#include <leaksnek/limiters/gcra.hpp>
#include <leaksnek/limiters/leaky_bucket.hpp>
#include <leaksnek/limiters/limiter.hpp>
#include <leaksnek/limiters/sliding_log.hpp>
#include <leaksnek/limiters/sliding_window.hpp>
#include <leaksnek/limiters/token_bucket.hpp>
#include <leaksnek/mutexes/memory_mutex.hpp>
#include <leaksnek/shortcuts/rate_limit.hpp>
#include <leaksnek/storages/memory_storage.hpp>
#include <leaksnek/testing/manual_clock.hpp>
#include <leaksnek/values/clock.hpp>
#include <leaksnek/values/decision.hpp>
#include <leaksnek/values/rate.hpp>
#include <leaksnek/values/rate_limit.hpp>
#include <leaksnek/values/time.hpp>
