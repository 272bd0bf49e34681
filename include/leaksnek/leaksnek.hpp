// leaksnek: rate limiting for C++20. Include this for everything in the core
// library (values, algorithms, clocks).
#pragma once

#include <leaksnek/algorithms/algorithm.hpp>
#include <leaksnek/algorithms/fixed_window.hpp>
#include <leaksnek/algorithms/gcra.hpp>
#include <leaksnek/algorithms/leaky_bucket.hpp>
#include <leaksnek/algorithms/sliding_log.hpp>
#include <leaksnek/algorithms/sliding_window.hpp>
#include <leaksnek/algorithms/token_bucket.hpp>
#include <leaksnek/error.hpp>
#include <leaksnek/shortcuts/rate_limit.hpp>
#include <leaksnek/testing/manual_clock.hpp>
#include <leaksnek/values/clock.hpp>
#include <leaksnek/values/decision.hpp>
#include <leaksnek/values/rate_limit.hpp>
#include <leaksnek/values/time.hpp>
