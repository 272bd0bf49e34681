// AsyncSlidingWindowLimiter: an AsyncLimiter deciding with the sliding window counter.
#pragma once

#include <leaksnek/algorithms/sliding_window.hpp>
#include <leaksnek/limiters/aio/limiter.hpp>

namespace leaksnek {

template <class Key>
using AsyncSlidingWindowLimiter = AsyncLimiter<SlidingWindow, Key>;

}  // namespace leaksnek
