// Reference model of `leaksnek simulate` (contract: /work/shared/spec/simulate.md).
//
// This is an INDEPENDENT, deliberately plain model used by property tests to
// cross-check the real implementation. It follows the spec text literally and
// favours obviousness over speed:
//   * all arithmetic is exact: integers and a small __int128 rational type,
//     every operation overflow-checked (an overflow throws, it never wraps);
//   * no floating point anywhere;
//   * no clever state compression: the bucket family keeps a rational token
//     count, the window algorithms keep "allowed cost per fixed window index",
//     sliding-log keeps the list of allowed (time, cost) entries.
//
// Header-only; namespace leaksnek::reference.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <limits>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace leaksnek::reference {

// ---------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------

struct Event {
  std::string time_text;  // TIME_MS exactly as it would be written in the trace, e.g. "12.375"
  std::int64_t time_ns;   // the same instant in integer nanoseconds (TIME_MS * 1e6)
  std::string key;
  std::int64_t cost;  // >= 1
};

// ---------------------------------------------------------------------------
// Checked __int128 arithmetic and an exact rational type
// ---------------------------------------------------------------------------

namespace detail {

__extension__ using i128 = __int128;

[[noreturn]] inline void overflow() {
  throw std::overflow_error("leaksnek::reference: __int128 overflow (inputs too large for the reference model)");
}

inline i128 add(i128 a, i128 b) {
  i128 r;
  if (__builtin_add_overflow(a, b, &r)) overflow();
  return r;
}
inline i128 sub(i128 a, i128 b) {
  i128 r;
  if (__builtin_sub_overflow(a, b, &r)) overflow();
  return r;
}
inline i128 mul(i128 a, i128 b) {
  i128 r;
  if (__builtin_mul_overflow(a, b, &r)) overflow();
  return r;
}
inline i128 abs(i128 a) {
  if (a == std::numeric_limits<i128>::min()) overflow();
  return a < 0 ? -a : a;
}
inline i128 gcd(i128 a, i128 b) {
  a = detail::abs(a);
  b = detail::abs(b);
  while (b != 0) {
    i128 t = a % b;
    a = b;
    b = t;
  }
  return a;
}

inline std::int64_t to_int64(i128 v) {
  if (v < std::numeric_limits<std::int64_t>::min() || v > std::numeric_limits<std::int64_t>::max()) overflow();
  return static_cast<std::int64_t>(v);
}

}  // namespace detail

// num/den, always normalised: den > 0 and gcd(|num|, den) == 1.
class Rational {
 public:
  using i128 = detail::i128;

  Rational() = default;
  explicit Rational(i128 n, i128 d = 1) : num_(n), den_(d) {
    if (den_ == 0) throw std::domain_error("leaksnek::reference: rational with zero denominator");
    if (den_ < 0) {
      num_ = detail::mul(num_, -1);
      den_ = detail::mul(den_, -1);
    }
    i128 g = detail::gcd(num_, den_);
    if (g > 1) {
      num_ /= g;
      den_ /= g;
    }
  }

  i128 num() const { return num_; }
  i128 den() const { return den_; }

  friend Rational operator+(const Rational& a, const Rational& b) {
    // a/b + c/d = (a*(d/g) + c*(b/g)) / (b/g*d), g = gcd(b, d)
    i128 g = detail::gcd(a.den_, b.den_);
    i128 n = detail::add(detail::mul(a.num_, b.den_ / g), detail::mul(b.num_, a.den_ / g));
    i128 d = detail::mul(a.den_ / g, b.den_);
    return Rational(n, d);
  }
  friend Rational operator-(const Rational& a) { return Rational(detail::mul(a.num_, -1), a.den_); }
  friend Rational operator-(const Rational& a, const Rational& b) { return a + (-b); }
  friend Rational operator*(const Rational& a, const Rational& b) {
    // cross-reduce first to keep intermediates small
    i128 g1 = detail::gcd(a.num_, b.den_);
    i128 g2 = detail::gcd(b.num_, a.den_);
    if (g1 == 0) g1 = 1;
    if (g2 == 0) g2 = 1;
    i128 n = detail::mul(a.num_ / g1, b.num_ / g2);
    i128 d = detail::mul(a.den_ / g2, b.den_ / g1);
    return Rational(n, d);
  }
  friend Rational operator/(const Rational& a, const Rational& b) {
    if (b.num_ == 0) throw std::domain_error("leaksnek::reference: rational division by zero");
    return a * Rational(b.den_, b.num_);
  }

  friend bool operator==(const Rational& a, const Rational& b) { return a.num_ == b.num_ && a.den_ == b.den_; }
  friend bool operator!=(const Rational& a, const Rational& b) { return !(a == b); }
  friend bool operator<(const Rational& a, const Rational& b) {
    // denominators are positive, so cross-multiplication preserves order
    return detail::mul(a.num_, b.den_) < detail::mul(b.num_, a.den_);
  }
  friend bool operator>(const Rational& a, const Rational& b) { return b < a; }
  friend bool operator<=(const Rational& a, const Rational& b) { return !(b < a); }
  friend bool operator>=(const Rational& a, const Rational& b) { return !(a < b); }

  // Largest integer <= value.
  i128 floor() const {
    i128 q = num_ / den_;  // C++ division truncates toward zero
    if (num_ % den_ != 0 && num_ < 0) q -= 1;
    return q;
  }
  // Smallest integer >= value.
  i128 ceil() const {
    i128 q = num_ / den_;
    if (num_ % den_ != 0 && num_ > 0) q += 1;
    return q;
  }

 private:
  i128 num_ = 0;
  i128 den_ = 1;
};

inline Rational R(std::int64_t v) { return Rational(v); }
inline Rational min(const Rational& a, const Rational& b) { return b < a ? b : a; }
inline Rational max(const Rational& a, const Rational& b) { return a < b ? b : a; }

// ---------------------------------------------------------------------------
// Helpers shared by all algorithms
// ---------------------------------------------------------------------------

namespace detail {

constexpr std::int64_t kNsPerMs = 1'000'000;

struct Decision {
  bool allowed = false;
  std::int64_t remaining = 0;       // already rounded down and clamped at 0
  std::int64_t retry_after_ms = 0;  // 0 allowed, -1 never, else ceil(wait in ms)
};

[[noreturn]] inline void internal_error(const char* what) {
  throw std::logic_error(std::string("leaksnek::reference: internal consistency check failed: ") + what);
}

// REMAINING: rounded down to a whole number, never below 0.
inline std::int64_t remaining_from(const Rational& r) {
  i128 f = r.floor();
  if (f < 0) f = 0;
  return to_int64(f);
}

// RETRY_AFTER_MS for a denied request whose exact wait (in ns) is `wait_ns`:
// milliseconds rounded UP to a whole number. A denied request always has to
// wait a strictly positive time, so the result is >= 1.
inline std::int64_t retry_ms_from_wait_ns(const Rational& wait_ns) {
  if (!(wait_ns > R(0))) internal_error("denied request with non-positive wait");
  Rational wait_ms = wait_ns / R(kNsPerMs);
  return to_int64(wait_ms.ceil());
}

// Parses TIME_MS per the spec: one or more digits, optionally a point and at
// most 6 more digits. Returns false if malformed (or absurdly large).
inline bool parse_time_ms(std::string_view s, std::int64_t& out_ns) {
  std::size_t i = 0;
  i128 ms = 0;
  std::size_t int_digits = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
    ms = ms * 10 + (s[i] - '0');
    ++i;
    if (++int_digits > 12) return false;  // > 1e12 ms: out of any sane range
  }
  if (int_digits == 0) return false;
  i128 frac_ns = 0;
  if (i < s.size()) {
    if (s[i] != '.') return false;
    ++i;
    std::size_t frac_digits = 0;
    i128 scale = 100'000;  // first decimal of a ms is 100000 ns
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      if (++frac_digits > 6) return false;
      frac_ns += (s[i] - '0') * scale;
      scale /= 10;
      ++i;
    }
    if (i != s.size()) return false;
  }
  out_ns = to_int64(ms * kNsPerMs + frac_ns);
  return true;
}

// ---------------------------------------------------------------------------
// token-bucket / gcra / leaky-bucket: one shared model.
// "capacity B, refilled continuously at N per PERIOD, full at a key's first
//  request. Allowed iff the bucket holds at least COST; an allowed request
//  takes COST. REMAINING: tokens in the bucket after the decision.
//  RETRY_AFTER: time until the bucket holds COST."
// ---------------------------------------------------------------------------
class BucketModel {
 public:
  BucketModel(std::int64_t count, std::int64_t period_ns, std::int64_t burst)
      : capacity_(burst), rate_per_ns_(Rational(count, period_ns)) {}

  Decision decide(const std::string& key, std::int64_t t_ns, std::int64_t cost) {
    // Tokens in the key's bucket at time t. A key never seen before has a full
    // bucket (it is "full at a key's first request").
    Rational tokens = R(capacity_);
    auto it = state_.find(key);
    if (it != state_.end()) {
      const Rational elapsed = R(t_ns - it->second.at_ns);
      tokens = min(R(capacity_), it->second.tokens + elapsed * rate_per_ns_);
    }

    Decision d;
    if (tokens >= R(cost)) {
      d.allowed = true;
      const Rational after = tokens - R(cost);
      state_[key] = State{after, t_ns};  // only allowed requests change state
      d.remaining = remaining_from(after);
      d.retry_after_ms = 0;
      return d;
    }
    // Denied: state untouched.
    d.allowed = false;
    d.remaining = remaining_from(tokens);
    if (cost > capacity_) {
      d.retry_after_ms = -1;  // the bucket never holds more than B
    } else {
      // time until the bucket holds COST: (COST - tokens) / rate
      const Rational wait_ns = (R(cost) - tokens) / rate_per_ns_;
      d.retry_after_ms = retry_ms_from_wait_ns(wait_ns);
    }
    return d;
  }

 private:
  struct State {
    Rational tokens;     // tokens right after the last allowed request
    std::int64_t at_ns;  // time of that request
  };
  std::int64_t capacity_;
  Rational rate_per_ns_;  // N / PERIOD, tokens per nanosecond
  std::map<std::string, State> state_;
};

// Window index k such that t is in [k*P, (k+1)*P). t >= 0.
inline std::int64_t window_index(std::int64_t t_ns, std::int64_t period_ns) { return t_ns / period_ns; }

// Allowed cost recorded per fixed window index, for one key.
using WindowCosts = std::map<std::int64_t, std::int64_t>;

inline std::int64_t cost_in_window(const WindowCosts& w, std::int64_t index) {
  auto it = w.find(index);
  return it == w.end() ? 0 : it->second;
}

// ---------------------------------------------------------------------------
// fixed-window
// "windows [k*P, (k+1)*P) of the virtual clock. Allowed iff the window's
//  allowed cost + COST <= N. REMAINING: N minus the window's allowed cost.
//  RETRY_AFTER: time until the next window starts."
// ---------------------------------------------------------------------------
class FixedWindowModel {
 public:
  FixedWindowModel(std::int64_t count, std::int64_t period_ns) : limit_(count), period_ns_(period_ns) {}

  Decision decide(const std::string& key, std::int64_t t_ns, std::int64_t cost) {
    WindowCosts& windows = allowed_[key];
    const std::int64_t k = window_index(t_ns, period_ns_);
    const std::int64_t used = cost_in_window(windows, k);

    Decision d;
    if (used + cost <= limit_) {
      d.allowed = true;
      windows[k] = used + cost;
      d.remaining = remaining_from(R(limit_ - (used + cost)));
      d.retry_after_ms = 0;
      return d;
    }
    d.allowed = false;
    d.remaining = remaining_from(R(limit_ - used));
    if (cost > limit_) {
      d.retry_after_ms = -1;
    } else {
      const std::int64_t next_window_start = (k + 1) * period_ns_;
      d.retry_after_ms = retry_ms_from_wait_ns(R(next_window_start - t_ns));
    }
    return d;
  }

 private:
  std::int64_t limit_;
  std::int64_t period_ns_;
  std::map<std::string, WindowCosts> allowed_;
};

// ---------------------------------------------------------------------------
// sliding-log
// "allowed iff the summed cost of allowed requests with time in (t - P, t]
//  + COST <= N. REMAINING: N minus that sum after the decision. RETRY_AFTER:
//  time until enough of the oldest allowed requests have left the window for
//  COST to fit."
// ---------------------------------------------------------------------------
class SlidingLogModel {
 public:
  SlidingLogModel(std::int64_t count, std::int64_t period_ns) : limit_(count), period_ns_(period_ns) {}

  Decision decide(const std::string& key, std::int64_t t_ns, std::int64_t cost) {
    std::deque<Entry>& log = log_[key];
    // Entries with time <= t - P are outside (t - P, t] now and, since the
    // clock never goes back, forever after: forgetting them changes nothing.
    while (!log.empty() && log.front().t_ns <= t_ns - period_ns_) log.pop_front();

    const std::int64_t in_window = sum_in_window(log, t_ns);

    Decision d;
    if (in_window + cost <= limit_) {
      d.allowed = true;
      log.push_back(Entry{t_ns, cost});
      d.remaining = remaining_from(R(limit_ - (in_window + cost)));
      d.retry_after_ms = 0;
      return d;
    }
    d.allowed = false;
    d.remaining = remaining_from(R(limit_ - in_window));
    if (cost > limit_) {
      d.retry_after_ms = -1;
      return d;
    }
    // An entry at time e is inside (t' - P, t'] until t' reaches e + P, when
    // it leaves. Walk the entries oldest first; after the entry at e (and any
    // others at the same instant) has left, what remains is everything newer.
    std::int64_t still_inside = in_window;
    for (std::size_t i = 0; i < log.size(); ++i) {
      still_inside -= log[i].cost;
      const bool more_at_same_instant = i + 1 < log.size() && log[i + 1].t_ns == log[i].t_ns;
      if (more_at_same_instant) continue;
      if (still_inside + cost <= limit_) {
        const std::int64_t fits_at = log[i].t_ns + period_ns_;
        // literal cross-check: at fits_at the window sum really leaves room,
        // and just before it does not (the entry at log[i] is still inside).
        if (sum_in_window(log, fits_at) + cost > limit_) internal_error("sliding-log retry time does not fit");
        if (sum_in_window(log, fits_at - 1) + cost <= limit_) internal_error("sliding-log retry time not earliest");
        d.retry_after_ms = retry_ms_from_wait_ns(R(fits_at - t_ns));
        return d;
      }
    }
    internal_error("sliding-log: COST <= N but never fits");
  }

 private:
  struct Entry {
    std::int64_t t_ns;
    std::int64_t cost;
  };

  // Summed cost of logged (allowed) requests with time in (t - P, t].
  std::int64_t sum_in_window(const std::deque<Entry>& log, std::int64_t t_ns) const {
    std::int64_t sum = 0;
    for (const Entry& e : log) {
      if (e.t_ns > t_ns - period_ns_ && e.t_ns <= t_ns) sum += e.cost;
    }
    return sum;
  }

  std::int64_t limit_;
  std::int64_t period_ns_;
  std::map<std::string, std::deque<Entry>> log_;
};

// ---------------------------------------------------------------------------
// sliding-window (two-window counter estimate)
// "with w the current fixed window, e = t - start(w), prev and cur the allowed
//  cost in the previous and current windows, the estimate is
//  prev * (P - e) / P + cur; allowed iff estimate + COST <= N. REMAINING: N
//  minus the estimate after the decision. RETRY_AFTER: the earliest later time
//  at which the estimate (with no new requests, windows rolling over as time
//  passes) leaves room for COST."
// ---------------------------------------------------------------------------
class SlidingWindowModel {
 public:
  SlidingWindowModel(std::int64_t count, std::int64_t period_ns) : limit_(count), period_ns_(period_ns) {}

  Decision decide(const std::string& key, std::int64_t t_ns, std::int64_t cost) {
    WindowCosts& windows = allowed_[key];
    const Rational t = R(t_ns);
    const Rational est = estimate(windows, t);

    Decision d;
    if (est + R(cost) <= R(limit_)) {
      d.allowed = true;
      const std::int64_t w = window_index(t_ns, period_ns_);
      windows[w] = cost_in_window(windows, w) + cost;
      const Rational est_after = estimate(windows, t);
      if (est_after != est + R(cost)) internal_error("sliding-window estimate after allow");
      d.remaining = remaining_from(R(limit_) - est_after);
      d.retry_after_ms = 0;
      return d;
    }
    d.allowed = false;
    d.remaining = remaining_from(R(limit_) - est);
    if (cost > limit_) {
      d.retry_after_ms = -1;
      return d;
    }
    const Rational fits_at = earliest_fit(windows, t_ns, cost);
    d.retry_after_ms = retry_ms_from_wait_ns(fits_at - t);
    return d;
  }

 private:
  // The estimate at a (possibly fractional) time t, from the recorded
  // allowed cost per window, literally as the spec writes it.
  Rational estimate(const WindowCosts& windows, const Rational& t) const {
    const Rational P = R(period_ns_);
    const std::int64_t w = to_int64((t / P).floor());
    const Rational start = R(w) * P;
    const Rational e = t - start;
    const std::int64_t prev = cost_in_window(windows, w - 1);
    const std::int64_t cur = cost_in_window(windows, w);
    return R(prev) * (P - e) / P + R(cur);
  }

  // Earliest time t' > t with estimate(t') + COST <= N, no new requests.
  // Requires COST <= N and the request denied at t.
  //
  // Let w be t's window, prev/cur as at t. As time passes with no requests:
  //  (a) still in w, t' in [t, (w+1)P):
  //        estimate = prev * ((w+1)P - t') / P + cur            (decreasing if prev > 0)
  //  (b) in w+1, t' in [(w+1)P, (w+2)P): prev becomes cur, cur becomes 0:
  //        estimate = cur * ((w+2)P - t') / P
  //  (c) from (w+2)P on: both windows empty, estimate = 0, and COST <= N fits.
  // Solve estimate(t') = N - COST for t' in each segment in turn.
  Rational earliest_fit(const WindowCosts& windows, std::int64_t t_ns, std::int64_t cost) const {
    const Rational P = R(period_ns_);
    const std::int64_t w = window_index(t_ns, period_ns_);
    const std::int64_t prev = cost_in_window(windows, w - 1);
    const std::int64_t cur = cost_in_window(windows, w);
    const Rational end_w = R(w + 1) * P;   // start of w+1
    const Rational end_w1 = R(w + 2) * P;  // start of w+2

    Rational answer;
    bool found = false;

    // (a) prev * (end_w - t') / P <= N - COST - cur
    if (!found && prev > 0) {
      const Rational room = R(limit_ - cost - cur);
      if (room >= R(0)) {
        const Rational tp = end_w - room * P / R(prev);
        if (tp < end_w) {
          if (!(tp > R(t_ns))) internal_error("sliding-window: denied request fits at or before t");
          answer = tp;
          found = true;
        }
      }
    }
    // (b) cur * (end_w1 - t') / P <= N - COST, with t' >= end_w
    if (!found) {
      Rational tp = end_w;
      if (cur > 0) tp = max(end_w, end_w1 - R(limit_ - cost) * P / R(cur));
      if (tp < end_w1) {
        answer = tp;
        found = true;
      }
    }
    // (c)
    if (!found) {
      answer = end_w1;
      found = true;
    }

    // Literal cross-checks against the estimate formula:
    //  * at the answer, COST fits;
    //  * the answer is strictly later than t;
    //  * unless the answer is a window start, the estimate crosses N - COST
    //    exactly there (it is continuous and piecewise linear, so that makes
    //    it the earliest point).
    if (!(answer > R(t_ns))) internal_error("sliding-window retry not later than t");
    const Rational at_answer = estimate(windows, answer);
    if (at_answer + R(cost) > R(limit_)) internal_error("sliding-window retry time does not fit");
    const bool on_window_start = (answer / P).den() == 1;
    if (!on_window_start && at_answer + R(cost) != R(limit_)) internal_error("sliding-window retry time not earliest");
    return answer;
  }

  std::int64_t limit_;
  std::int64_t period_ns_;
  std::map<std::string, WindowCosts> allowed_;
};

inline std::string format_line(const Event& ev, const Decision& d) {
  std::string line;
  line += ev.time_text;
  line += ',';
  line += ev.key;
  line += ',';
  line += std::to_string(ev.cost);
  line += ',';
  line += d.allowed ? "1" : "0";
  line += ',';
  line += std::to_string(d.remaining);
  line += ',';
  line += std::to_string(d.retry_after_ms);
  return line;
}

inline void validate_events(const std::vector<Event>& events) {
  std::int64_t last_ns = 0;
  for (std::size_t i = 0; i < events.size(); ++i) {
    const Event& ev = events[i];
    const std::string where = "leaksnek::reference: event " + std::to_string(i) + ": ";
    std::int64_t parsed = 0;
    if (!parse_time_ms(ev.time_text, parsed))
      throw std::invalid_argument(where + "malformed time_text '" + ev.time_text + "'");
    if (parsed != ev.time_ns)
      throw std::invalid_argument(where + "time_text '" + ev.time_text + "' disagrees with time_ns " +
                                  std::to_string(ev.time_ns));
    if (i > 0 && ev.time_ns < last_ns) throw std::invalid_argument(where + "time decreases");
    last_ns = ev.time_ns;
    if (ev.key.empty()) throw std::invalid_argument(where + "empty key");
    for (char c : ev.key) {
      if (c == ',' || c == '\n' || c == '\r') throw std::invalid_argument(where + "key contains ',' or a line break");
    }
    if (ev.cost < 1) throw std::invalid_argument(where + "cost must be >= 1");
  }
}

}  // namespace detail

// ---------------------------------------------------------------------------
// replay
// ---------------------------------------------------------------------------

// algorithm: one of "token-bucket","gcra","leaky-bucket","fixed-window","sliding-window","sliding-log"
// count = N, period_ns = PERIOD in nanoseconds, burst = B (capacity of the bucket family; ignored by windows)
// Returns one line per event, without newline: "TIME_MS,KEY,COST,ALLOWED,REMAINING,RETRY_AFTER_MS"
inline std::vector<std::string> replay(std::string_view algorithm, std::int64_t count, std::int64_t period_ns,
                                       std::int64_t burst, const std::vector<Event>& events) {
  if (count < 1) throw std::invalid_argument("leaksnek::reference: count must be >= 1");
  if (period_ns < 1) throw std::invalid_argument("leaksnek::reference: period_ns must be >= 1");
  if (burst < 1) throw std::invalid_argument("leaksnek::reference: burst must be >= 1");
  detail::validate_events(events);

  std::vector<std::string> out;
  out.reserve(events.size());

  auto run = [&](auto& model) {
    for (const Event& ev : events) out.push_back(detail::format_line(ev, model.decide(ev.key, ev.time_ns, ev.cost)));
  };

  if (algorithm == "token-bucket" || algorithm == "gcra" || algorithm == "leaky-bucket") {
    // The three must print identical output; they share one model here.
    detail::BucketModel model(count, period_ns, burst);
    run(model);
  } else if (algorithm == "fixed-window") {
    detail::FixedWindowModel model(count, period_ns);
    run(model);
  } else if (algorithm == "sliding-window") {
    detail::SlidingWindowModel model(count, period_ns);
    run(model);
  } else if (algorithm == "sliding-log") {
    detail::SlidingLogModel model(count, period_ns);
    run(model);
  } else {
    throw std::invalid_argument("leaksnek::reference: unknown algorithm '" + std::string(algorithm) + "'");
  }
  return out;
}

// ---------------------------------------------------------------------------
// Random trace generator
// ---------------------------------------------------------------------------

namespace detail {

// SplitMix64: tiny, deterministic on every platform (unlike std:: distributions).
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  // Uniform integer in [lo, hi] (inclusive), unbiased (rejection sampling).
  std::int64_t uniform(std::int64_t lo, std::int64_t hi) {
    if (hi < lo) throw std::invalid_argument("leaksnek::reference: Rng::uniform with hi < lo");
    const std::uint64_t span = static_cast<std::uint64_t>(hi) - static_cast<std::uint64_t>(lo) + 1;  // 0 means 2^64
    if (span == 0) return static_cast<std::int64_t>(next());
    const std::uint64_t limit =
        std::numeric_limits<std::uint64_t>::max() - (std::numeric_limits<std::uint64_t>::max() % span);
    std::uint64_t x;
    do {
      x = next();
    } while (x >= limit);
    return static_cast<std::int64_t>(static_cast<std::uint64_t>(lo) + x % span);
  }
  // true with probability percent/100
  bool percent(int p) { return uniform(0, 99) < p; }

 private:
  std::uint64_t state_;
};

inline std::int64_t pow10(int e) {
  std::int64_t r = 1;
  for (int i = 0; i < e; ++i) r *= 10;
  return r;
}

// Fewest decimals (0..6) needed to write t_ns as TIME_MS exactly.
inline int decimals_needed(std::int64_t t_ns) {
  int d = 6;
  std::int64_t frac = t_ns % kNsPerMs;
  if (frac == 0) return 0;
  while (frac % 10 == 0) {
    frac /= 10;
    --d;
  }
  return d;
}

// TIME_MS text for t_ns with exactly `decimals` digits after the point (no
// point at all for 0). t_ns must be representable with that many decimals.
inline std::string format_time_ms(std::int64_t t_ns, int decimals) {
  if (decimals < decimals_needed(t_ns)) internal_error("format_time_ms: not representable");
  std::string text = std::to_string(t_ns / kNsPerMs);
  if (decimals == 0) return text;
  std::string frac = std::to_string(t_ns % kNsPerMs);
  frac.insert(0, 6 - frac.size(), '0');  // 6 digits, zero padded
  text += '.';
  text += frac.substr(0, static_cast<std::size_t>(decimals));
  return text;
}

}  // namespace detail

// Random trace generator for property tests: `events` events over `keys` keys (names like "k17"),
// non-decreasing times with a mix of: identical timestamps, small steps, fractional milliseconds
// with 1..6 decimals (time_text a valid TIME_MS agreeing exactly with time_ns),
// occasional long idle gaps (several periods), costs mostly 1 but also 1..capacity+1.
// Also: jumps landing exactly on a fixed-window boundary k*P, and exactly P after
// an earlier event (the instant that event leaves a sliding log).
inline std::vector<Event> random_trace(std::uint64_t seed, std::size_t events, std::size_t keys, std::int64_t period_ns,
                                       std::int64_t capacity) {
  if (keys < 1) throw std::invalid_argument("leaksnek::reference: random_trace needs keys >= 1");
  if (period_ns < 1) throw std::invalid_argument("leaksnek::reference: random_trace needs period_ns >= 1");
  if (capacity < 1) throw std::invalid_argument("leaksnek::reference: random_trace needs capacity >= 1");

  detail::Rng rng(seed);
  // Spacing at which one key would roughly use up `capacity` per period.
  const std::int64_t typical_gap = period_ns / capacity > 0 ? period_ns / capacity : 1;
  const std::size_t hot_keys = keys < 3 ? keys : 3;

  std::vector<Event> out;
  out.reserve(events);
  std::int64_t now = 0;

  for (std::size_t i = 0; i < events; ++i) {
    // 1. pick the decimals this event's text will have (0 = whole ms).
    int decimals = rng.percent(30) ? 0 : static_cast<int>(rng.uniform(1, 6));

    // 2. move the clock.
    std::int64_t t = now;
    bool exact_target = true;  // the time must not be rounded (identical / boundary / log-exit instants)
    const std::int64_t roll = (i == 0) ? (rng.percent(50) ? 0 : 40) : rng.uniform(0, 99);
    if (roll < 20) {
      // identical timestamp (possibly written differently, e.g. "5" vs "5.000")
      t = now;
    } else if (roll < 32) {
      // tiny step: 1..1000 ns
      t = now + rng.uniform(1, 1000);
      exact_target = false;
    } else if (roll < 75) {
      // small step around the rate
      t = now + rng.uniform(1, 2 * typical_gap);
      exact_target = false;
    } else if (roll < 85) {
      // up to one period
      t = now + rng.uniform(1, period_ns);
      exact_target = false;
    } else if (roll < 91) {
      // exactly the next fixed-window boundary k*P (or stay if already on one)
      t = (now % period_ns == 0) ? now : (now / period_ns + 1) * period_ns;
    } else if (roll < 97) {
      // exactly P after one of the recent events: when it leaves a sliding log
      const std::size_t back =
          static_cast<std::size_t>(rng.uniform(1, out.size() < 32 ? static_cast<std::int64_t>(out.size()) : 32));
      const std::int64_t target = out[out.size() - back].time_ns + period_ns;
      t = target > now ? target : now;
    } else if (roll < 99) {
      // long idle gap: 2..6 periods plus a bit
      t = now + rng.uniform(2, 6) * period_ns + rng.uniform(0, period_ns);
      exact_target = false;
    } else {
      // a gap of exactly a whole number of periods
      t = now + rng.uniform(1, 4) * period_ns;
    }

    // 3. make the time writable with the chosen decimals.
    if (exact_target) {
      const int need = detail::decimals_needed(t);
      if (decimals < need) decimals = need;
    } else {
      const std::int64_t quantum = detail::pow10(6 - decimals);  // ns per last written digit
      t = ((t + quantum - 1) / quantum) * quantum;               // round up: never goes back in time
    }
    if (t < now) detail::internal_error("random_trace: time went backwards");
    now = t;

    // 4. key: half the time one of a few hot keys, otherwise any key.
    std::size_t key_index = rng.percent(50)
                                ? static_cast<std::size_t>(rng.uniform(0, static_cast<std::int64_t>(hot_keys) - 1))
                                : static_cast<std::size_t>(rng.uniform(0, static_cast<std::int64_t>(keys) - 1));

    // 5. cost: mostly 1, otherwise 1..capacity+1 (capacity+1 can never be allowed).
    std::int64_t cost = rng.percent(75) ? 1 : rng.uniform(1, capacity + 1);

    std::string key = "k";
    key.append(std::to_string(key_index));  // not "k" + ...: GCC 12 -Wrestrict false positive
    out.push_back(Event{detail::format_time_ms(t, decimals), t, std::move(key), cost});
  }
  return out;
}

}  // namespace leaksnek::reference
