#include "serve/metrics.hpp"

#include <cstdio>

namespace leaksnek::cli {

std::size_t metric_stripe() noexcept {
  static std::atomic<std::size_t> next{0};
  thread_local const std::size_t mine = next.fetch_add(1, std::memory_order_relaxed) % metric_stripes;
  return mine;
}

std::uint64_t Counter::load() const noexcept {
  std::uint64_t sum = 0;
  for (const Stripe& stripe : stripes_) sum += stripe.value.load(std::memory_order_relaxed);
  return sum;
}

void Metrics::observe(std::chrono::nanoseconds latency) noexcept {
  const double seconds = static_cast<double>(latency.count()) / 1e9;
  std::size_t bucket = 0;
  while (bucket < bounds.size() && seconds > bounds[bucket]) ++bucket;
  Stripe& stripe = stripes_[metric_stripe()];
  stripe.buckets[bucket].fetch_add(1, std::memory_order_relaxed);
  stripe.count.fetch_add(1, std::memory_order_relaxed);
  stripe.sum_ns.fetch_add(static_cast<std::uint64_t>(latency.count()), std::memory_order_relaxed);
}

std::string Metrics::render_histogram() const {
  std::string text;
  text.append("# HELP leaksnek_request_duration_seconds Time to answer a request, from parsed request to response.\n");
  text.append("# TYPE leaksnek_request_duration_seconds histogram\n");
  std::array<std::uint64_t, bounds.size() + 1> buckets{};
  std::uint64_t count = 0;
  std::uint64_t sum_ns = 0;
  for (const Stripe& stripe : stripes_) {
    for (std::size_t i = 0; i < buckets.size(); ++i) buckets[i] += stripe.buckets[i].load(std::memory_order_relaxed);
    count += stripe.count.load(std::memory_order_relaxed);
    sum_ns += stripe.sum_ns.load(std::memory_order_relaxed);
  }
  std::uint64_t cumulative = 0;
  char number[32];
  for (std::size_t i = 0; i < bounds.size(); ++i) {
    cumulative += buckets[i];
    std::snprintf(number, sizeof number, "%g", bounds[i]);
    text.append("leaksnek_request_duration_seconds_bucket{le=\"").append(number).append("\"} ");
    text.append(std::to_string(cumulative)).append("\n");
  }
  cumulative += buckets[bounds.size()];
  text.append("leaksnek_request_duration_seconds_bucket{le=\"+Inf\"} ").append(std::to_string(cumulative)).append("\n");
  std::snprintf(number, sizeof number, "%.9f", static_cast<double>(sum_ns) / 1e9);
  text.append("leaksnek_request_duration_seconds_sum ").append(number).append("\n");
  // The count is the +Inf bucket, read once: Prometheus expects the two equal.
  text.append("leaksnek_request_duration_seconds_count ").append(std::to_string(cumulative)).append("\n");
  return text;
}

std::string prometheus_label(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\n') {  // a line break would end the sample: Prometheus's escape
      out.append("\\n");
      continue;
    }
    if (c == '\\' || c == '"') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

}  // namespace leaksnek::cli
