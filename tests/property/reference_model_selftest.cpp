// Standalone self-test of the reference model (no gtest, no project build):
//   g++ -std=c++20 -O1 -Wall -Wextra -I/work/main/tests/property
//       /work/main/tests/property/reference_model_selftest.cpp -o /tmp/refselftest && /tmp/refselftest
//
// Every expected line below is worked out by hand from /work/shared/spec/simulate.md;
// the arithmetic is in the comments. Output line format:
//   TIME_MS,KEY,COST,ALLOWED,REMAINING,RETRY_AFTER_MS
#include "reference_model.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <vector>

namespace ref = leaksnek::reference;

namespace {

int g_failures = 0;

// An assert that is never compiled out and says what went wrong.
#define CHECK(cond)                                                                 \
  do {                                                                              \
    if (!(cond)) {                                                                  \
      std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      ++g_failures;                                                                 \
    }                                                                               \
  } while (0)

constexpr std::int64_t kMs = 1'000'000;  // ns per ms

// Builds an Event from its trace text, deriving time_ns by hand (independent of
// the model's parser): "12.375" -> 12*1e6 + 375000.
ref::Event ev(const std::string& time_text, const std::string& key, std::int64_t cost = 1) {
  std::int64_t whole = 0, frac = 0;
  std::size_t dot = time_text.find('.');
  std::string a = time_text.substr(0, dot);
  whole = std::stoll(a);
  if (dot != std::string::npos) {
    std::string b = time_text.substr(dot + 1);
    b.resize(6, '0');
    frac = std::stoll(b);
  }
  return ref::Event{time_text, whole * kMs + frac, key, cost};
}

// Replays `events` and compares with `expected`, line by line.
void expect(const char* label, std::string_view algo, std::int64_t n, std::int64_t period_ns, std::int64_t burst,
            const std::vector<ref::Event>& events, const std::vector<std::string>& expected) {
  std::vector<std::string> got = ref::replay(algo, n, period_ns, burst, events);
  bool ok = got.size() == expected.size();
  for (std::size_t i = 0; i < got.size() && i < expected.size(); ++i) {
    if (got[i] != expected[i]) {
      std::fprintf(stderr, "[%s / %.*s] line %zu: got '%s' expected '%s'\n", label, static_cast<int>(algo.size()),
                   algo.data(), i + 1, got[i].c_str(), expected[i].c_str());
      ok = false;
    }
  }
  if (got.size() != expected.size()) {
    std::fprintf(stderr, "[%s / %.*s] got %zu lines, expected %zu\n", label, static_cast<int>(algo.size()), algo.data(),
                 got.size(), expected.size());
  }
  if (!ok) ++g_failures;
}

void expect_bucket_family(const char* label, std::int64_t n, std::int64_t period_ns, std::int64_t burst,
                          const std::vector<ref::Event>& events, const std::vector<std::string>& expected) {
  for (const char* algo : {"token-bucket", "gcra", "leaky-bucket"})
    expect(label, algo, n, period_ns, burst, events, expected);
}

// ---------------------------------------------------------------------------
void test_bucket_7_per_s_burst_3() {
  // rate 7/s = 7/1000 tokens per ms; capacity 3; one token takes 1000/7 = 142.857... ms.
  std::vector<ref::Event> events = {
      ev("0", "k"),
      ev("0", "k"),
      ev("0", "k"),             // 3 -> 2, 1, 0
      ev("0", "k"),             // 0 tokens: denied, wait 1000/7 = 142.857 -> 143
      ev("100", "k"),           // 100*7/1000 = 0.7: denied, wait 0.3*1000/7 = 42.857 -> 43
      ev("143", "k"),           // 143*7/1000 = 1.001: allowed, 0.001 left -> 0
      ev("143", "k", 3),        // 0.001: denied, wait 2.999*1000/7 = 428.428... -> 429
      ev("143", "k", 4),        // 4 > B=3: never, -1; remaining floor(0.001) = 0
      ev("500", "k", 2),        // 0.001 + 357*0.007 = 2.5: allowed, 0.5 left -> 0
      ev("600", "k"),           // 0.5 + 0.7 = 1.2: allowed, 0.2 left -> 0
      ev("10000", "k", 3),      // long idle: capped at 3: allowed -> 0
      ev("10000", "k"),         // 0: denied, 143
      ev("10000", "other", 2),  // new key, full: 3 - 2 = 1
  };
  expect_bucket_family("bucket 7/s B3", 7, 1000 * kMs, 3, events,
                       {"0,k,1,1,2,0", "0,k,1,1,1,0", "0,k,1,1,0,0", "0,k,1,0,0,143", "100,k,1,0,0,43", "143,k,1,1,0,0",
                        "143,k,3,0,0,429", "143,k,4,0,0,-1", "500,k,2,1,0,0", "600,k,1,1,0,0", "10000,k,3,1,0,0",
                        "10000,k,1,0,0,143", "10000,other,2,1,1,0"});
}

void test_bucket_4_per_s_burst_2() {
  // rate 4/s: one token per 250 ms; capacity 2.
  std::vector<ref::Event> events = {
      ev("0", "a", 2),      // 2 -> 0
      ev("250", "a"),       // exactly 1 token: fits exactly -> allowed, 0 left
      ev("250", "a"),       // 0: denied, wait exactly 250 ms (no rounding up of an integer)
      ev("375.5", "a"),     // 125.5/250 = 0.502: denied, wait 0.498*250 = 124.5 -> 125
      ev("375.5", "a", 3),  // 3 > B=2: -1
      ev("1000", "a", 2),   // 0 + 750/250 = 3, capped at 2: allowed -> 0
      ev("1000", "b"),      // new key: 2 - 1 = 1
  };
  expect_bucket_family("bucket 4/s B2", 4, 1000 * kMs, 2, events,
                       {"0,a,2,1,0,0", "250,a,1,1,0,0", "250,a,1,0,0,250", "375.5,a,1,0,0,125", "375.5,a,3,0,0,-1",
                        "1000,a,2,1,0,0", "1000,b,1,1,1,0"});
}

void test_bucket_burst_above_rate() {
  // 1/s burst 5: capacity 5, one token per 1000 ms.
  std::vector<ref::Event> events = {
      ev("0", "x", 5),        // 5 -> 0
      ev("0.000001", "x"),    // 1e-6 ms * 1/1000 = 1e-9 tokens: denied; wait (1 - 1e-9)*1000 = 999.999999 ms -> 1000
      ev("2500", "x", 3),     // 2.5 tokens (the denied request changed nothing): denied, remaining 2,
                              // wait 0.5*1000 = 500 exactly
      ev("3000", "x", 3),     // 3: fits exactly -> 0
      ev("3000.25", "x", 6),  // 6 > B=5: -1; remaining floor(0.00025) = 0
      ev("9000", "x", 5),     // 0 + 5.99975 -> capped 5: allowed -> 0
  };
  expect_bucket_family("bucket 1/s B5", 1, 1000 * kMs, 5, events,
                       {"0,x,5,1,0,0", "0.000001,x,1,0,0,1000", "2500,x,3,0,2,500", "3000,x,3,1,0,0",
                        "3000.25,x,6,0,0,-1", "9000,x,5,1,0,0"});
}

// ---------------------------------------------------------------------------
void test_fixed_window() {
  // 3/s: windows [0,1000), [1000,2000), ... ms. Burst argument is ignored (pass 99).
  std::vector<ref::Event> events = {
      ev("0", "a", 2),        // window 0: 0+2 <= 3 -> used 2, remaining 1
      ev("500.25", "a", 2),   // 2+2 = 4 > 3: denied, remaining 1, next window in 499.75 -> 500
      ev("999.999999", "a"),  // 2+1 = 3: allowed exactly, remaining 0
      ev("999.999999", "a"),  // denied, next window in 0.000001 ms -> 1
      ev("1000", "a", 3),     // window 1: 0+3: allowed, 0
      ev("1000", "a", 4),     // 4 > N=3: -1, remaining 0
      ev("1000.000", "b"),    // other key, "1000.000" echoed verbatim: remaining 2
      ev("2999.5", "a"),      // window 2 (window 1 forgotten): remaining 2
  };
  expect("fixed 3/s", "fixed-window", 3, 1000 * kMs, 99, events,
         {"0,a,2,1,1,0", "500.25,a,2,0,1,500", "999.999999,a,1,1,0,0", "999.999999,a,1,0,0,1", "1000,a,3,1,0,0",
          "1000,a,4,0,0,-1", "1000.000,b,1,1,2,0", "2999.5,a,1,1,2,0"});

  // 2/500ms: windows [0,500), [500,1000) ms.
  std::vector<ref::Event> e2 = {
      ev("0.75", "z", 2),   // used 2, remaining 0
      ev("250.1", "z"),     // denied, next window in 249.9 -> 250
      ev("499.9999", "z"),  // denied, next window in 0.0001 -> 1
      ev("500", "z"),       // window 1: remaining 1
  };
  expect("fixed 2/500ms", "fixed-window", 2, 500 * kMs, 1, e2,
         {"0.75,z,2,1,0,0", "250.1,z,1,0,0,250", "499.9999,z,1,0,0,1", "500,z,1,1,1,0"});
}

// ---------------------------------------------------------------------------
void test_sliding_log() {
  // 3/s: window (t-1000, t] ms.
  std::vector<ref::Event> events = {
      ev("0", "a"),           // sum 0: allowed, remaining 2.  log: 0(1)
      ev("100.5", "a", 2),    // sum 1: 1+2 = 3 allowed, remaining 0.  log: 0(1) 100.5(2)
      ev("200", "a"),         // sum 3: denied. 0 leaves at 1000 -> sum 2, 2+1 fits: wait 800
      ev("200", "a", 2),      // after 0 leaves: 2+2 > 3; after 100.5 leaves at 1100.5: 0+2 fits: wait 900.5 -> 901
      ev("200", "a", 4),      // 4 > N: -1
      ev("999.999999", "a"),  // window (-0.000001, 999.999999] still holds 0: sum 3, denied, wait 0.000001 -> 1
      ev("1000", "a"),        // window (0, 1000]: 0 left: sum 2, allowed, remaining 0.  log: 100.5(2) 1000(1)
      ev("1100.5", "a"),      // window (100.5, 1100.5]: sum 1 (1000), allowed, remaining 1.  log: 1000(1) 1100.5(1)
      ev("1100.5", "a", 2),   // sum 2: 2+2 > 3 denied, remaining 1. 1000 leaves at 2000: 1+2 fits: wait 899.5 -> 900
  };
  expect("sliding-log 3/s", "sliding-log", 3, 1000 * kMs, 1, events,
         {"0,a,1,1,2,0", "100.5,a,2,1,0,0", "200,a,1,0,0,800", "200,a,2,0,0,901", "200,a,4,0,0,-1",
          "999.999999,a,1,0,0,1", "1000,a,1,1,0,0", "1100.5,a,1,1,1,0", "1100.5,a,2,0,1,900"});

  // Entries at the same instant leave together.
  std::vector<ref::Event> e2 = {
      ev("7", "c"),           ev("7", "c"), ev("7", "c"),  // remaining 2, 1, 0
      ev("7.5", "c"),                                      // denied: all three leave at 1007: wait 999.5 -> 1000
      ev("1006.999999", "c"),                              // still inside: wait 0.000001 -> 1
      ev("1007", "c", 3),                                  // all gone: allowed, remaining 0
  };
  expect("sliding-log same instant", "sliding-log", 3, 1000 * kMs, 1, e2,
         {"7,c,1,1,2,0", "7,c,1,1,1,0", "7,c,1,1,0,0", "7.5,c,1,0,0,1000", "1006.999999,c,1,0,0,1", "1007,c,3,1,0,0"});
}

// ---------------------------------------------------------------------------
void test_sliding_window() {
  // 10/s, P = 1000 ms. estimate = prev*(P-e)/P + cur.
  std::vector<ref::Event> k = {
      ev("500", "k", 6),    // w0: prev 0 cur 0: est 0, 0+6 <= 10 allowed; est after 6 -> remaining 4
      ev("1250", "k", 5),   // w1 e=250: est 6*750/1000 = 4.5; 9.5 <= 10 allowed; after 9.5 -> remaining 0
      ev("1250", "k"),      // est 9.5, 10.5 > 10: denied, remaining floor(0.5) = 0.
                            // in w1: 6*(2000-t')/1000 + 5 + 1 <= 10 -> t' >= 2000 - 4000/6 = 1333.333...
                            // wait 83.333... -> 84
      ev("1300", "k"),      // est 6*0.7 + 5 = 9.2: denied, remaining 0, wait 33.333... -> 34
      ev("1333.334", "k"),  // est 6*666.666/1000 + 5 = 8.999996; +1 = 9.999996 <= 10 allowed;
                            // remaining floor(10 - 9.999996) = 0.  now prev 6, cur 6
      ev("1500", "k",
         2),  // est 6*0.5 + 6 = 9; 11 > 10 denied, remaining 1.
              // in w1: 6*(2000-t')/1000 <= 10-2-6 = 2 -> t' >= 2000 - 333.333 = 1666.667: wait 166.667 -> 167
      ev("1500", "k", 5),   // denied, remaining 1. in w1: room 10-5-6 < 0: never.
                            // in w2 (prev 6, cur 0): 6*(3000-t')/1000 <= 5 -> t' >= 3000 - 833.333 = 2166.667:
                            // wait 666.667 -> 667
      ev("1500", "k", 10),  // w1: no; w2: 6*(3000-t')/1000 <= 0 -> t' = 3000, not inside w2; w3 starts at 3000:
                            // wait 1500
      ev("1500", "k", 11),  // 11 > N: -1, remaining 1
      ev("1500", "k"),      // 9 + 1 = 10 fits exactly: allowed, remaining 0.  cur 7
      ev("2100", "k"),      // w2 e=100: prev 7, cur 0: est 6.3; allowed, after 7.3 -> remaining 2
  };
  expect("sliding-window k", "sliding-window", 10, 1000 * kMs, 1, k,
         {"500,k,6,1,4,0", "1250,k,5,1,0,0", "1250,k,1,0,0,84", "1300,k,1,0,0,34", "1333.334,k,1,1,0,0",
          "1500,k,2,0,1,167", "1500,k,5,0,1,667", "1500,k,10,0,1,1500", "1500,k,11,0,1,-1", "1500,k,1,1,0,0",
          "2100,k,1,1,2,0"});

  std::vector<ref::Event> j = {
      ev("0", "j", 10),  // allowed, remaining 0
      ev("999", "j"),    // w0: prev 0, cur 10: est 10, denied. w0: flat (prev 0), never.
                         // w1 (prev 10): 10*(2000-t')/1000 <= 9 -> t' >= 1100: wait 101
  };
  expect("sliding-window j", "sliding-window", 10, 1000 * kMs, 1, j, {"0,j,10,1,0,0", "999,j,1,0,0,101"});

  std::vector<ref::Event> m = {
      ev("0", "m", 10),       // allowed, remaining 0
      ev("1000.5", "m"),      // w1 e=0.5: est 10*999.5/1000 = 9.995; 10.995 > 10 denied; remaining floor(0.005) = 0.
                              // w1: 10*(2000-t')/1000 <= 9 -> t' >= 1100: wait 99.5 -> 100
      ev("1000.5", "m", 10),  // w1: room 10-10-0 = 0 -> t' = 2000, not inside w1; w2 (prev 0 = cur of w1): est 0 at
                              // 2000: wait 999.5 -> 1000
      ev("3000", "m", 10),    // w3: prev = w2 = 0 (not the older w0/w1): est 0: allowed, remaining 0
      ev("3000", "z", 3),     // new key: remaining 7
  };
  expect("sliding-window m", "sliding-window", 10, 1000 * kMs, 1, m,
         {"0,m,10,1,0,0", "1000.5,m,1,0,0,100", "1000.5,m,10,0,0,1000", "3000,m,10,1,0,0", "3000,z,3,1,7,0"});
}

// ---------------------------------------------------------------------------
void test_errors() {
  bool threw = false;
  try {
    ref::replay("token-bucket", 1, kMs, 1, {ref::Event{"1.5", 1'000'000, "k", 1}});  // 1.5 ms is 1'500'000 ns
  } catch (const std::invalid_argument&) {
    threw = true;
  }
  CHECK(threw);
  threw = false;
  try {
    ref::replay("bogus", 1, kMs, 1, {});
  } catch (const std::invalid_argument&) {
    threw = true;
  }
  CHECK(threw);
  threw = false;
  try {
    ref::replay("gcra", 1, kMs, 1, {ev("2", "k"), ev("1.999999", "k")});  // time goes back
  } catch (const std::invalid_argument&) {
    threw = true;
  }
  CHECK(threw);
}

// ---------------------------------------------------------------------------
// Splits an output line into its 6 fields.
std::vector<std::string> fields(const std::string& line) {
  std::vector<std::string> f;
  std::size_t start = 0;
  for (;;) {
    std::size_t c = line.find(',', start);
    if (c == std::string::npos) {
      f.push_back(line.substr(start));
      return f;
    }
    f.push_back(line.substr(start, c - start));
    start = c + 1;
  }
}

void test_random_traces() {
  struct Config {
    std::int64_t n, period_ns, burst;
  };
  const Config configs[] = {
      {10, 1000 * kMs, 10}, {7, 1000 * kMs, 3},   {100, 1000 * kMs, 150},
      {3, 500 * kMs, 1},    {5, 10'000 * kMs, 5}, {1000, 3'600'000 * kMs, 50},
  };
  const char* algos[] = {"token-bucket", "gcra", "leaky-bucket", "fixed-window", "sliding-window", "sliding-log"};
  const std::size_t kEvents = 50'000;

  std::uint64_t seed = 1;
  for (const Config& cfg : configs) {
    for (std::size_t keys : {std::size_t{1}, std::size_t{4}, std::size_t{40}}) {
      const std::int64_t capacity = cfg.burst > cfg.n ? cfg.burst : cfg.n;
      std::vector<ref::Event> trace = ref::random_trace(seed++, kEvents, keys, cfg.period_ns, capacity);
      CHECK(trace.size() == kEvents);

      // Generator properties: non-decreasing, text agrees with ns (independent parse),
      // variety of decimals, identical timestamps, long gaps, costs 1..capacity+1.
      std::set<std::size_t> decimals_seen;
      bool identical = false, long_gap = false, over_capacity = false, boundary = false;
      for (std::size_t i = 0; i < trace.size(); ++i) {
        const ref::Event& e = trace[i];
        CHECK(ev(e.time_text, e.key, e.cost).time_ns == e.time_ns);
        std::size_t dot = e.time_text.find('.');
        decimals_seen.insert(dot == std::string::npos ? 0 : e.time_text.size() - dot - 1);
        CHECK(e.cost >= 1 && e.cost <= capacity + 1);
        if (e.cost == capacity + 1) over_capacity = true;
        if (e.time_ns % cfg.period_ns == 0 && e.time_ns > 0) boundary = true;
        if (i > 0) {
          CHECK(e.time_ns >= trace[i - 1].time_ns);
          if (e.time_ns == trace[i - 1].time_ns) identical = true;
          if (e.time_ns - trace[i - 1].time_ns > 2 * cfg.period_ns) long_gap = true;
        }
      }
      CHECK(decimals_seen.size() == 7);  // 0..6 decimals all present
      CHECK(identical);
      CHECK(long_gap);
      CHECK(over_capacity);
      CHECK(boundary);

      std::vector<std::string> bucket_reference;
      for (const char* algo : algos) {
        auto t0 = std::chrono::steady_clock::now();
        std::vector<std::string> out = ref::replay(algo, cfg.n, cfg.period_ns, cfg.burst, trace);
        auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
        if (ms > 1000) {
          std::fprintf(stderr, "SLOW: %s n=%lld P=%lldns keys=%zu: %lld ms for %zu events\n", algo,
                       static_cast<long long>(cfg.n), static_cast<long long>(cfg.period_ns), keys,
                       static_cast<long long>(ms), kEvents);
          ++g_failures;
        }
        CHECK(out.size() == trace.size());
        const bool window = std::string(algo).find("window") != std::string::npos || std::string(algo) == "sliding-log";
        const std::int64_t cap = window ? cfg.n : cfg.burst;
        std::size_t allowed = 0, denied = 0;
        for (std::size_t i = 0; i < out.size(); ++i) {
          std::vector<std::string> f = fields(out[i]);
          CHECK(f.size() == 6);
          if (f.size() != 6) continue;
          CHECK(f[0] == trace[i].time_text && f[1] == trace[i].key && f[2] == std::to_string(trace[i].cost));
          const long long remaining = std::stoll(f[4]);
          const long long retry = std::stoll(f[5]);
          CHECK(remaining >= 0 && remaining <= cap);
          if (f[3] == "1") {
            ++allowed;
            CHECK(retry == 0);
            CHECK(trace[i].cost <= cap);
          } else {
            CHECK(f[3] == "0");
            ++denied;
            if (trace[i].cost > cap) {
              CHECK(retry == -1);
            } else {
              CHECK(retry >= 1);
              CHECK(retry <= 2 * cfg.period_ns / kMs + 1 || !window);  // windows: at most two periods away
            }
          }
        }
        CHECK(allowed > 0 && denied > 0);
        if (!window) {
          if (bucket_reference.empty()) bucket_reference = out;
          CHECK(out == bucket_reference);
        }
      }
    }
  }
}

}  // namespace

int main() {
  test_bucket_7_per_s_burst_3();
  test_bucket_4_per_s_burst_2();
  test_bucket_burst_above_rate();
  test_fixed_window();
  test_sliding_log();
  test_sliding_window();
  test_errors();
  auto t0 = std::chrono::steady_clock::now();
  test_random_traces();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  if (g_failures != 0) {
    std::fprintf(stderr, "reference model self-test: %d FAILURE(S)\n", g_failures);
    return 1;
  }
  std::printf(
      "reference model self-test: all checks passed (random traces: 18 traces x 6 algorithms x 50000 events in %lld "
      "ms)\n",
      static_cast<long long>(ms));
  return 0;
}
