// leaksnek on Boost.Asio: include this (and link leaksnek::asio) for the
// asynchronous limiters and the seed's asynchronous interfaces. Each layer's
// async code lives in its aio/ folder, as the seed's does.
#pragma once

#include <leaksnek/async_error.hpp>
#include <leaksnek/decorators/aio/rate_limit.hpp>
#include <leaksnek/interfaces/mutexes/aio/key_mutex.hpp>
#include <leaksnek/interfaces/storages/aio/rate_storage.hpp>
#include <leaksnek/leaksnek.hpp>
#include <leaksnek/limiters/aio/fixed_window.hpp>
#include <leaksnek/limiters/aio/gcra.hpp>
#include <leaksnek/limiters/aio/leaky_bucket.hpp>
#include <leaksnek/limiters/aio/limiter.hpp>
#include <leaksnek/limiters/aio/sliding_log.hpp>
#include <leaksnek/limiters/aio/sliding_window.hpp>
#include <leaksnek/limiters/aio/token_bucket.hpp>
