#include "serve/metrics.hpp"

#include <cstdio>

namespace leaksnek::cli {

void Metrics::observe(std::chrono::nanoseconds latency) noexcept {
  const double seconds = static_cast<double>(latency.count()) / 1e9;
  std::size_t bucket = 0;
  while (bucket < bounds.size() && seconds > bounds[bucket]) ++bucket;
  buckets_[bucket].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_ns_.fetch_add(static_cast<std::uint64_t>(latency.count()), std::memory_order_relaxed);
}

std::string Metrics::render_histogram() const {
  std::string text;
  text.append("# HELP leaksnek_request_duration_seconds Time to answer a request, from parsed request to response.\n");
  text.append("# TYPE leaksnek_request_duration_seconds histogram\n");
  std::uint64_t cumulative = 0;
  char number[32];
  for (std::size_t i = 0; i < bounds.size(); ++i) {
    cumulative += buckets_[i].load();
    std::snprintf(number, sizeof number, "%g", bounds[i]);
    text.append("leaksnek_request_duration_seconds_bucket{le=\"").append(number).append("\"} ");
    text.append(std::to_string(cumulative)).append("\n");
  }
  cumulative += buckets_[bounds.size()].load();
  text.append("leaksnek_request_duration_seconds_bucket{le=\"+Inf\"} ").append(std::to_string(cumulative)).append("\n");
  std::snprintf(number, sizeof number, "%.9f", static_cast<double>(sum_ns_.load()) / 1e9);
  text.append("leaksnek_request_duration_seconds_sum ").append(number).append("\n");
  text.append("leaksnek_request_duration_seconds_count ").append(std::to_string(count_.load())).append("\n");
  return text;
}

std::string prometheus_label(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\\' || c == '"') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

}  // namespace leaksnek::cli
