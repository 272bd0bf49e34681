// The seed's module path for AsyncLeakyBucketLimiter.
#pragma once

#include <leaksnek/asio/async_limiter.hpp>
