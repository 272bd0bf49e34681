// The seed's module path for AsyncKeyMutex.
#pragma once

#include <leaksnek/asio/async_key_mutex.hpp>
