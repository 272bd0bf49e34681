// SlidingWindowLimiter: a Limiter deciding with the sliding window counter.
#pragma once

#include <leaksnek/algorithms/sliding_window.hpp>
#include <leaksnek/limiters/limiter.hpp>

namespace leaksnek {

template <class Key>
using SlidingWindowLimiter = Limiter<SlidingWindow, Key>;

}  // namespace leaksnek
