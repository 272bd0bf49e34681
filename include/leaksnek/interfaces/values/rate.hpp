// The seed's module path for Rate.
#pragma once

#include <leaksnek/values/rate.hpp>
