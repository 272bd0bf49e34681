// `leaksnek acquire`: decisions on a shared store from the shell, so cron jobs
// and deploy scripts on several hosts can share one limit.
#pragma once

namespace leaksnek::cli {

// Parses `args` (after "acquire"), decides, prints KEY,COST,ALLOWED,REMAINING,
// RETRY_AFTER_MS per decision; returns 0 when every decision allowed, 1 when
// any was denied, 2 on bad arguments or (under fail-closed) a store that failed.
int acquire_main(int argc, char** argv);

}  // namespace leaksnek::cli
