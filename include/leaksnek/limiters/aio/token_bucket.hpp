// AsyncTokenBucketLimiter: an AsyncLimiter deciding with the token bucket.
#pragma once

#include <leaksnek/algorithms/token_bucket.hpp>
#include <leaksnek/limiters/aio/limiter.hpp>

namespace leaksnek {

template <class Key>
using AsyncTokenBucketLimiter = AsyncLimiter<TokenBucket, Key>;

}  // namespace leaksnek
