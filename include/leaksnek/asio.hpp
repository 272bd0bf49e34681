// leaksnek on Boost.Asio: include this (and link leaksnek::asio) for the
// asynchronous limiters and the seed's asynchronous interfaces.
#pragma once

#include <leaksnek/asio/async_key_mutex.hpp>
#include <leaksnek/asio/async_limiter.hpp>
#include <leaksnek/asio/async_rate_storage.hpp>
#include <leaksnek/asio/error.hpp>
#include <leaksnek/leaksnek.hpp>
