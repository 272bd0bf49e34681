// `serve`'s latency histogram for /metrics, and Prometheus text helpers.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace leaksnek::cli {

// Counters every serving thread adds to are striped: each thread adds on a
// cache line of its own (of 16, chosen once per thread), and a reader sums
// the stripes, so counting a request writes no line another core writes.
constexpr std::size_t metric_stripes = 16;
// The calling thread's stripe.
std::size_t metric_stripe() noexcept;

// A counter; safe from any thread (relaxed atomics, no lock).
class Counter {
 public:
  void add(std::uint64_t n = 1) noexcept { stripes_[metric_stripe()].value.fetch_add(n, std::memory_order_relaxed); }
  [[nodiscard]] std::uint64_t load() const noexcept;

 private:
  struct alignas(64) Stripe {
    std::atomic<std::uint64_t> value{0};
  };
  std::array<Stripe, metric_stripes> stripes_{};
};

// Request latencies; safe from any thread (relaxed atomics, no lock).
class Metrics {
 public:
  static constexpr std::array<double, 10> bounds{0.00005, 0.0001, 0.00025, 0.0005, 0.001,
                                                 0.0025,  0.005,  0.01,    0.05,   0.25};  // seconds
  void observe(std::chrono::nanoseconds latency) noexcept;
  std::string render_histogram() const;

 private:
  struct alignas(64) Stripe {
    std::array<std::atomic<std::uint64_t>, bounds.size() + 1> buckets{};
    std::atomic<std::uint64_t> count{0};
    std::atomic<std::uint64_t> sum_ns{0};
  };
  std::array<Stripe, metric_stripes> stripes_{};
};

// `text` as a Prometheus label value (backslashes and quotes escaped).
std::string prometheus_label(std::string_view text);

}  // namespace leaksnek::cli
