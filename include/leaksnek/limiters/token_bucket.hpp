// TokenBucketLimiter: a Limiter deciding with the token bucket.
#pragma once

#include <leaksnek/algorithms/token_bucket.hpp>
#include <leaksnek/limiters/limiter.hpp>

namespace leaksnek {

template <class Key>
using TokenBucketLimiter = Limiter<TokenBucket, Key>;

}  // namespace leaksnek
