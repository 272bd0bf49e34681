// FixedWindowLimiter: a Limiter deciding with fixed windows.
#pragma once

#include <leaksnek/algorithms/fixed_window.hpp>
#include <leaksnek/limiters/limiter.hpp>

namespace leaksnek {

template <class Key>
using FixedWindowLimiter = Limiter<FixedWindow, Key>;

}  // namespace leaksnek
