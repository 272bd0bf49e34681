// AsyncFixedWindowLimiter: an AsyncLimiter deciding with fixed windows.
#pragma once

#include <leaksnek/algorithms/fixed_window.hpp>
#include <leaksnek/limiters/aio/limiter.hpp>

namespace leaksnek {

template <class Key>
using AsyncFixedWindowLimiter = AsyncLimiter<FixedWindow, Key>;

}  // namespace leaksnek
