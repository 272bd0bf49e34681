// `leaksnek serve`: the HTTP rate limit service.
#pragma once

namespace leaksnek::cli {

// Parses `args` (after "serve"), serves until SIGTERM or SIGINT (then drains
// in-flight requests and returns 0 within 5 s); 2 on a bad argument or
// configuration, with the reason on stderr.
int serve_main(int argc, char** argv);

}  // namespace leaksnek::cli
