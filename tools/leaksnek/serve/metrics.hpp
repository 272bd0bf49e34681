// `serve`'s latency histogram for /metrics, and Prometheus text helpers.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace leaksnek::cli {

// Request latencies; safe from any thread (relaxed atomics, no lock).
class Metrics {
 public:
  static constexpr std::array<double, 10> bounds{0.00005, 0.0001, 0.00025, 0.0005, 0.001,
                                                 0.0025,  0.005,  0.01,    0.05,   0.25};  // seconds
  void observe(std::chrono::nanoseconds latency) noexcept;
  std::string render_histogram() const;

 private:
  std::array<std::atomic<std::uint64_t>, bounds.size() + 1> buckets_{};
  std::atomic<std::uint64_t> count_{0};
  std::atomic<std::uint64_t> sum_ns_{0};
};

// `text` as a Prometheus label value (backslashes and quotes escaped).
std::string prometheus_label(std::string_view text);

}  // namespace leaksnek::cli
