// Compiled by the compile.rl_literal.* tests, one case at a time: every case
// but VALID must fail to compile with the error that names its problem.
#include <leaksnek/shortcuts/rate_limit.hpp>

using namespace leaksnek::literals;

#if defined(LEAKSNEK_RL_CASE_VALID)
constexpr leaksnek::RateLimit limit = "20/500ms"_rl;
static_assert(limit.count() == 20 && limit.period() == std::chrono::milliseconds{500});
static_assert("1/1.5m"_rl.period() == std::chrono::seconds{90});
#elif defined(LEAKSNEK_RL_CASE_UNKNOWN_UNIT)
constexpr leaksnek::RateLimit limit = "10/x"_rl;
#elif defined(LEAKSNEK_RL_CASE_ZERO_COUNT)
constexpr leaksnek::RateLimit limit = "0/s"_rl;
#elif defined(LEAKSNEK_RL_CASE_NO_SLASH)
constexpr leaksnek::RateLimit limit = "10"_rl;
#elif defined(LEAKSNEK_RL_CASE_TRAILING)
constexpr leaksnek::RateLimit limit = "10/m junk"_rl;
#elif defined(LEAKSNEK_RL_CASE_ZERO_PERIOD)
constexpr leaksnek::RateLimit limit = "10/0s"_rl;
#elif defined(LEAKSNEK_RL_CASE_NOT_WHOLE_NANOSECONDS)
constexpr leaksnek::RateLimit limit = "1/0.0000001ms"_rl;
#endif

int main() { return 0; }
