// The seed's module path for AsyncRateStorage.
#pragma once

#include <leaksnek/asio/async_rate_storage.hpp>
