#include "serve/envoy_service.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <limits>
#include <thread>
#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include <google/protobuf/unknown_field_set.h>

#include <leaksnek/redis/session.hpp>
#include <leaksnek/storages/memory_storage.hpp>

namespace leaksnek::cli {

namespace asio = boost::asio;

namespace {

// The wall clock: windows aligned to the Unix epoch, as envoyproxy/ratelimit's
// and as Redis's (whose TIME the Redis storage uses). A step back is absorbed
// by the storage, which raises a key's time to the latest it has seen.
class WallClock {
 public:
  [[nodiscard]] Instant now() const noexcept {
    return Instant{std::chrono::duration_cast<Duration>(std::chrono::system_clock::now().time_since_epoch())};
  }
  void sleep_until(Instant until) const { std::this_thread::sleep_for(until - now()); }
};

const WallClock wall_clock;

constexpr std::uint32_t uint32_max = std::numeric_limits<std::uint32_t>::max();
// A decision that never consumes and reports what is left: more than any
// count (a check: a descriptor's hits_addend of 0, or the first pass of
// stop_increment_when_over_limit).
constexpr std::int64_t peek_cost = RateLimit::max_count + 1;

rls::RateLimitResponse::RateLimit::Unit wire_unit(envoy::Unit unit) {
  using U = rls::RateLimitResponse::RateLimit;
  switch (unit) {
    case envoy::Unit::second:
      return U::SECOND;
    case envoy::Unit::minute:
      return U::MINUTE;
    case envoy::Unit::hour:
      return U::HOUR;
    case envoy::Unit::day:
      return U::DAY;
    case envoy::Unit::week:
      return U::WEEK;
    case envoy::Unit::month:
      return U::MONTH;
    case envoy::Unit::year:
      return U::YEAR;
  }
  return U::UNKNOWN;
}

std::optional<envoy::Unit> unit_of(::envoy::type::v3::RateLimitUnit unit) {
  using U = ::envoy::type::v3::RateLimitUnit;
  switch (unit) {
    case U::SECOND:
      return envoy::Unit::second;
    case U::MINUTE:
      return envoy::Unit::minute;
    case U::HOUR:
      return envoy::Unit::hour;
    case U::DAY:
      return envoy::Unit::day;
    case U::WEEK:
      return envoy::Unit::week;
    case U::MONTH:
      return envoy::Unit::month;
    case U::YEAR:
      return envoy::Unit::year;
    default:
      return std::nullopt;
  }
}

// Length-prefixed, so no two entry lists share a key.
std::string entries_key(const rls::RateLimitRequest& request, int index) {
  std::string key;
  for (const auto& entry : request.descriptors(index).entries()) {
    key.append(std::to_string(entry.key().size())).append(":").append(entry.key());
    key.append(std::to_string(entry.value().size())).append(":").append(entry.value());
  }
  return key;
}

// A counter key of any length in a bounded one: beyond 200 bytes, its first
// 100 and the SHA-1 of all of it (a collision no client can make), so that a
// long descriptor (a URL path) neither fails Redis's key bound nor holds
// kilobytes per counter.
std::string bounded_key(std::string key) {
  if (key.size() <= 200) return key;
  std::string digest = redis::sha1_hex(key);
  key.resize(100);
  return key.append("#").append(digest);
}

// A metric series name: at most 256 bytes.
std::string series_name(std::string name) {
  if (name.size() > 256) name.resize(256);
  return name;
}

// Whole seconds to the end of a window of `period`, aligned to the epoch on
// the wall clock, as upstream: period - now % period.
std::int64_t seconds_to_window_end(Duration period) {
  const std::int64_t period_s =
      std::max<std::int64_t>(1, std::chrono::duration_cast<std::chrono::seconds>(period).count());
  const std::int64_t now_s =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  return period_s - now_s % period_s;
}

}  // namespace

// A configured descriptor with a limit: its runner and counters.
struct EnvoyService::Node {
  const envoy::Descriptor* descriptor = nullptr;
  std::string series;  // its metric series name
  std::unique_ptr<PolicyRunner> runner;
  bool fixed_window = true;
  bool denies_all = false;    // requests_per_unit: 0
  std::int64_t count = 0;     // the first limit's
  Duration period{0};         // the first limit's
  std::int64_t capacity = 0;  // the most any of its limits can ever allow at once (count or burst)
};

struct EnvoyService::Snapshot {
  std::vector<envoy::Domain> domains;
  std::map<const envoy::Descriptor*, Node> nodes;
  // The series of each descriptor with a limit (or unlimited), resolved here
  // so that a request takes no lock to count.
  std::map<const envoy::Descriptor*, Counters*> counters;
  bool response_headers = false;
  bool stop_increment = false;
  [[nodiscard]] const envoy::Domain* domain(std::string_view name) const {
    for (const envoy::Domain& domain : domains) {
      if (domain.name == name) return &domain;
    }
    return nullptr;
  }
};

// One request on its way: what each descriptor asks, and the decisions.
struct EnvoyService::Work {
  struct Item {
    const Node* node = nullptr;          // a configured limit, or
    PolicyRunner* runner = nullptr;      // its runner (or an override's)
    std::shared_ptr<PolicyRunner> keep;  // an override's, kept for the call
    bool unlimited = false;
    bool denies_all = false;
    bool shadow = false;
    bool fixed_window = true;
    bool fill_when_over = false;  // a fixed window of one limit
    std::int64_t count = 0;
    Duration period{0};
    std::string key;
    std::int64_t hits = 1;
    Decision decision;
    bool over = false;
    std::string name;
    envoy::Unit unit = envoy::Unit::second;
    std::string series;
    Counters* counters = nullptr;  // the series when resolved at configure time
  };
  const rls::RateLimitRequest* request = nullptr;
  rls::RateLimitResponse* response = nullptr;
  std::function<void()> done;
  std::shared_ptr<const Snapshot> snapshot;
  std::vector<Item> items;  // one per request descriptor
  // check (stop_increment_when_over_limit: may anything be counted?),
  // consume, fill (a fixed window gone over), answer.
  enum class Phase { check, consume, fill, answer } phase = Phase::consume;
  struct Call {
    std::size_t item;
    std::int64_t cost;
    Decision result;
  };
  std::vector<Call> calls;
  std::atomic<std::size_t> pending{0};  // calls on Redis not yet answered
  bool any_over_in_check = false;
};

EnvoyService::EnvoyService(asio::any_io_executor executor, const ServeConfig& config, const ServeStorage& storage)
    : executor_{std::move(executor)}, storage_{storage} {
  if (storage_.memory) {
    MemoryStorage<std::string>::Options options;
    options.max_keys = static_cast<std::size_t>(config.max_keys);
    storage_.memory = std::make_shared<MemoryStorage<std::string>>(options);
  }
  configure(config);
}

EnvoyService::~EnvoyService() = default;

void EnvoyService::configure(const ServeConfig& config) {
  auto next = std::make_shared<Snapshot>();
  next->domains = config.domains;
  next->response_headers = config.grpc_response_headers;
  next->stop_increment = config.grpc_stop_increment_when_over_limit;
  auto add = [&](auto&& self, const envoy::Domain& domain, const envoy::Descriptor& descriptor) -> void {
    const bool denies_all = std::any_of(descriptor.limits.begin(), descriptor.limits.end(),
                                        [](const envoy::Limit& limit) { return limit.denies_all(); });
    if (!descriptor.limits.empty() && denies_all) {
      Node node;  // no runner: every request over, nothing counted
      node.descriptor = &descriptor;
      node.denies_all = true;
      node.period = envoy::unit_duration(descriptor.limits.front().unit);
      next->nodes.emplace(&descriptor, std::move(node));
    } else if (!descriptor.limits.empty()) {
      Node node;
      node.descriptor = &descriptor;
      node.series = series_name(descriptor.path);
      ServePolicy policy;
      policy.name = "envoy:" + domain.name + ":" + descriptor.path;
      policy.algorithm = descriptor.algorithm;
      for (const envoy::Limit& limit : descriptor.limits) policy.limits.push_back(limit.rate_limit());
      node.fixed_window = descriptor.algorithm == "fixed-window";
      node.count = policy.limits.front().count();
      node.period = policy.limits.front().period();
      for (const RateLimit& limit : policy.limits) {
        node.capacity = std::max({node.capacity, limit.count(), limit.burst()});
      }
      try {
        node.runner = make_runner(executor_, policy, storage_, wall_clock);
      } catch (const std::exception& error) {
        throw ConfigError{domain.file + ": domain \"" + domain.name + "\", descriptor \"" + descriptor.path +
                          "\": " + error.what()};
      }
      next->nodes.emplace(&descriptor, std::move(node));
    }
    if (descriptor.has_limit()) {  // before any client's series
      next->counters.emplace(&descriptor, &series(series_name(descriptor.path)));
    }
    for (const envoy::Descriptor& child : descriptor.descriptors) self(self, domain, child);
  };
  for (const envoy::Domain& domain : next->domains) {
    for (const envoy::Descriptor& descriptor : domain.descriptors) add(add, domain, descriptor);
  }
  std::lock_guard lock{mutex_};
  current_ = std::move(next);
}

std::shared_ptr<const EnvoyService::Snapshot> EnvoyService::snapshot() const {
  std::lock_guard lock{mutex_};
  return current_;
}

namespace {
constexpr std::uint64_t max_hits = std::uint64_t{1} << 32;
}  // namespace

std::optional<std::string> EnvoyService::malformed(const rls::RateLimitRequest& request, std::size_t size) const {
  if (size > EnvoyBounds::max_message) {
    return "the request is " + std::to_string(size) + " bytes, over the limit of " +
           std::to_string(EnvoyBounds::max_message);
  }
  if (request.domain().empty()) return "the domain is empty";
  if (request.descriptors().empty()) return "no descriptors: give at least one";
  if (static_cast<std::size_t>(request.descriptors_size()) > EnvoyBounds::max_descriptors) {
    return std::to_string(request.descriptors_size()) + " descriptors, over the limit of " +
           std::to_string(EnvoyBounds::max_descriptors);
  }
  for (int i = 0; i < request.descriptors_size(); ++i) {
    const auto& descriptor = request.descriptors(i);
    const std::string where = "descriptors[" + std::to_string(i) + "]";
    if (descriptor.entries().empty()) return where + " has no entries";
    if (static_cast<std::size_t>(descriptor.entries_size()) > EnvoyBounds::max_entries) {
      return where + " has " + std::to_string(descriptor.entries_size()) + " entries, over the limit of " +
             std::to_string(EnvoyBounds::max_entries);
    }
    for (int e = 0; e < descriptor.entries_size(); ++e) {
      if (descriptor.entries(e).key().empty()) return where + ".entries[" + std::to_string(e) + "] has an empty key";
    }
    // A field this copy of the protos lacks (Envoy 1.38's is_negative_hits, a
    // refund) must not be read as a plain hit: refused, never miscounted.
    if (const auto& unknown = descriptor.GetReflection()->GetUnknownFields(descriptor); unknown.field_count() > 0) {
      return where + " has field " + std::to_string(unknown.field(0).number()) +
             ", which this service does not know (refunds, is_negative_hits, are not supported)";
    }
    if (descriptor.has_limit()) {
      if (!unit_of(descriptor.limit().unit())) return where + ".limit has no known unit";
    }
  }
  return std::nullopt;
}

std::shared_ptr<PolicyRunner> EnvoyService::override_runner(const rls::RateLimitRequest& request, int index,
                                                            std::string& counter_key) {
  const auto& limit = request.descriptors(index).limit();
  const envoy::Unit unit = *unit_of(limit.unit());
  // One policy name per domain and unit, as upstream keys an override's
  // counter by domain and entries: a changed count keeps its window.
  const std::string name = "envoy-override:" + request.domain() + ":" + std::string{envoy::unit_name(unit)};
  const std::string runner_key = name + "/" + std::to_string(limit.requests_per_unit());
  counter_key = bounded_key(entries_key(request, index));
  std::lock_guard lock{overrides_mutex_};
  auto found = overrides_.find(runner_key);
  if (found != overrides_.end()) return found->second;
  // Bounded: a runner dropped loses no state (it lives in the storage under
  // the policy's name); a call under way keeps its own.
  if (overrides_.size() >= EnvoyBounds::max_overrides) overrides_.erase(overrides_.begin());
  ServePolicy policy;
  policy.name = name;
  policy.algorithm = "fixed-window";
  envoy::Limit wanted;
  wanted.requests_per_unit = limit.requests_per_unit();
  wanted.unit = unit;
  policy.limits.push_back(wanted.rate_limit());
  std::shared_ptr<PolicyRunner> runner = make_runner(executor_, policy, storage_, wall_clock);
  overrides_.emplace(runner_key, runner);
  return runner;
}

EnvoyService::Counters& EnvoyService::series(std::string_view name) {
  std::lock_guard lock{series_mutex_};
  auto found = series_.find(name);
  if (found != series_.end()) return *found->second;
  if (series_.size() >= EnvoyBounds::max_series) {
    auto& other = series_["_other"];
    if (!other) other = std::make_unique<Counters>();
    return *other;
  }
  return *series_.emplace(std::string{name}, std::make_unique<Counters>()).first->second;
}

void EnvoyService::should_rate_limit(const rls::RateLimitRequest& request, rls::RateLimitResponse& response,
                                     std::function<void()> done) {
  auto work = std::make_shared<Work>();
  work->request = &request;
  work->response = &response;
  work->done = std::move(done);
  work->snapshot = snapshot();
  const Snapshot& snapshot = *work->snapshot;
  const envoy::Domain* domain = snapshot.domain(request.domain());
  work->items.resize(static_cast<std::size_t>(request.descriptors_size()));
  // Matched limits first, then `replaces` drops those named by another.
  std::vector<std::string> replaced;
  for (int i = 0; i < request.descriptors_size() && domain != nullptr; ++i) {
    Work::Item& item = work->items[static_cast<std::size_t>(i)];
    const auto& descriptor = request.descriptors(i);
    // Any hits_addend is answered, as upstream answers it (an error would
    // let Envoy fail open): past the most its limits can ever allow it can
    // never fit, so it is decided as that + 1 (below); and counted in the
    // metrics as at most 2^32 (a request's own field is a uint32), so that
    // no client overflows a counter in a few requests.
    const std::uint64_t hits = descriptor.has_hits_addend() ? descriptor.hits_addend().value()
                                                            : std::max<std::uint64_t>(1, request.hits_addend());
    item.hits = static_cast<std::int64_t>(std::min<std::uint64_t>(hits, max_hits));
    if (descriptor.has_limit()) {  // the proxy's own limit for this descriptor
      item.unit = *unit_of(descriptor.limit().unit());
      item.period = envoy::unit_duration(item.unit);
      item.series = domain->name + "._override";
      if (descriptor.limit().requests_per_unit() == 0) {
        item.denies_all = true;
        item.over = true;
        continue;
      }
      item.keep = override_runner(request, i, item.key);
      item.runner = item.keep.get();
      item.count = descriptor.limit().requests_per_unit();
      item.hits = std::min(item.hits, item.count + 1);  // a fixed window: count is its capacity
      item.fill_when_over = true;
      continue;
    }
    std::vector<envoy::Entry> entries;
    entries.reserve(static_cast<std::size_t>(descriptor.entries_size()));
    for (const auto& entry : descriptor.entries()) entries.push_back({entry.key(), entry.value()});
    envoy::Match match = envoy::match(*domain, entries);
    if (match.descriptor == nullptr || !match.descriptor->has_limit()) continue;
    const envoy::Descriptor& matched = *match.descriptor;
    item.name = matched.name;
    item.shadow = matched.shadow_mode;
    if (!matched.detailed_metric && !matched.value_to_metric) {
      item.counters = snapshot.counters.at(&matched);
    } else {
      item.series = domain->name;
      for (const envoy::Entry& entry : entries) {
        item.series.append(".").append(entry.key).append("_").append(entry.value);
      }
      item.series = series_name(std::move(item.series));
    }
    for (const std::string& name : matched.replaces) replaced.push_back(name);
    if (matched.unlimited) {
      item.unlimited = true;
      continue;
    }
    const Node& node = snapshot.nodes.at(&matched);
    if (node.denies_all) {
      item.denies_all = true;
      item.over = true;
      item.period = node.period;
      item.unit = matched.limits.front().unit;
      continue;
    }
    item.node = &node;
    item.runner = node.runner.get();
    item.fixed_window = node.fixed_window;
    item.fill_when_over = node.fixed_window && matched.limits.size() == 1;
    item.count = node.count;
    item.hits = std::min(item.hits, node.capacity + 1);  // a burst may take more than count
    item.period = node.period;
    item.unit = matched.limits.front().unit;
    item.key = bounded_key(std::move(match.counter_key));
  }
  for (Work::Item& item : work->items) {
    if ((item.node != nullptr || item.denies_all || item.unlimited) && !item.name.empty() &&
        std::find(replaced.begin(), replaced.end(), item.name) != replaced.end()) {
      item = Work::Item{};  // replaced: as if unmatched
    }
  }
  work->phase = snapshot.stop_increment ? Work::Phase::check : Work::Phase::consume;
  step(work);
}

namespace {

// The calls of `work`'s phase; none for the answer.
void plan_calls(EnvoyService::Work& work);
// Reads the phase's results and moves to the next phase.
void take_results(EnvoyService::Work& work);

}  // namespace

// Runs the phases: each makes its calls (in memory at once, on Redis in a
// coroutine on the executor), then the next phase reads their results.
void EnvoyService::step(const std::shared_ptr<Work>& work) {
  while (true) {
    plan_calls(*work);
    if (work->phase == Work::Phase::answer) break;
    bool all_now = true;
    for (Work::Call& call : work->calls) {
      Work::Item& item = work->items[call.item];
      std::optional<Decision> now = item.runner->acquire_now(item.key, call.cost);
      if (!now) {  // a runner answers at once always (memory) or never (Redis)
        all_now = false;
        break;
      }
      call.result = *now;
    }
    if (!all_now) {
      // Redis: the phase's calls at once (pipelined on the client), so a
      // request waits one round trip a phase, whatever its descriptors.
      work->pending.store(work->calls.size());
      for (std::size_t c = 0; c < work->calls.size(); ++c) {
        asio::co_spawn(
            executor_,
            [work, c]() -> asio::awaitable<void> {
              Work::Call& call = work->calls[c];
              Work::Item& item = work->items[call.item];
              call.result = co_await item.runner->acquire(item.key, call.cost);
            },
            [this, work](const std::exception_ptr&) {
              if (work->pending.fetch_sub(1) != 1) return;
              take_results(*work);
              step(work);
            });
      }
      return;
    }
    take_results(*work);
  }
  answer(*work);
}

namespace {

void plan_calls(EnvoyService::Work& work) {
  using Work = EnvoyService::Work;
  work.calls.clear();
  for (std::size_t i = 0; i < work.items.size(); ++i) {
    const Work::Item& item = work.items[i];
    if (item.runner == nullptr) continue;
    switch (work.phase) {
      case Work::Phase::check:
        work.calls.push_back({i, peek_cost, {}});
        break;
      case Work::Phase::consume:
        work.calls.push_back({i, item.hits > 0 ? item.hits : peek_cost, {}});
        break;
      case Work::Phase::fill:
        // A fixed window a request went over is filled to its count, as
        // upstream's counter would be past it.
        if (item.fill_when_over && item.over && item.hits > 0 && item.decision.remaining > 0) {
          work.calls.push_back({i, item.decision.remaining, {}});
        }
        break;
      case Work::Phase::answer:
        break;
    }
  }
  if (work.calls.empty() && work.phase != Work::Phase::answer && work.phase != Work::Phase::check) {
    work.phase = work.phase == Work::Phase::consume ? Work::Phase::fill : Work::Phase::answer;
    if (work.phase == Work::Phase::fill) plan_calls(work);
  }
}

void take_results(EnvoyService::Work& work) {
  using Work = EnvoyService::Work;
  for (const Work::Call& call : work.calls) {
    Work::Item& item = work.items[call.item];
    switch (work.phase) {
      case Work::Phase::check:
        item.decision = call.result;
        if (item.decision.remaining < item.hits && !item.shadow) work.any_over_in_check = true;
        break;
      case Work::Phase::consume:
        item.decision = call.result;
        item.over = item.hits > 0 ? !call.result.allowed : call.result.remaining <= 0;
        break;
      case Work::Phase::fill:
        item.decision.remaining = 0;
        break;
      case Work::Phase::answer:
        break;
    }
  }
  switch (work.phase) {
    case Work::Phase::check:
      for (const Work::Item& item : work.items) {
        if (item.denies_all && !item.shadow) work.any_over_in_check = true;
      }
      if (work.any_over_in_check) {
        // Nothing is counted: each descriptor reports what it would be.
        for (Work::Item& item : work.items) {
          if (item.runner == nullptr) continue;
          item.over = item.hits > 0 ? item.decision.remaining < item.hits : item.decision.remaining <= 0;
        }
        work.phase = Work::Phase::answer;
      } else {
        work.phase = Work::Phase::consume;
      }
      break;
    case Work::Phase::consume:
      work.phase = Work::Phase::fill;
      break;
    default:
      work.phase = Work::Phase::answer;
      break;
  }
}

}  // namespace

void EnvoyService::answer(Work& work) {
  const Snapshot& snapshot = *work.snapshot;
  rls::RateLimitResponse& response = *work.response;
  bool over = false;
  const rls::RateLimitResponse::DescriptorStatus* tightest = nullptr;  // the least remaining, for the headers
  for (const Work::Item& item : work.items) {
    auto* status = response.add_statuses();
    status->set_code(rls::RateLimitResponse::OK);
    if (item.unlimited) {
      status->set_limit_remaining(uint32_max);
      counters_of(item.counters, item.series).within_limit.add(static_cast<std::uint64_t>(item.hits));
      continue;
    }
    if (item.runner == nullptr && !item.denies_all) continue;
    auto* limit = status->mutable_current_limit();
    limit->set_name(item.name);
    limit->set_requests_per_unit(static_cast<std::uint32_t>(std::min<std::int64_t>(item.count, uint32_max)));
    limit->set_unit(wire_unit(item.unit));
    const std::int64_t remaining = item.over ? 0 : std::clamp<std::int64_t>(item.decision.remaining, 0, uint32_max);
    status->set_limit_remaining(static_cast<std::uint32_t>(remaining));
    // A window of one limit ends on the wall clock's epoch-aligned boundary,
    // as upstream's; anything else resets when its decision says.
    const std::int64_t reset = item.fill_when_over || item.denies_all
                                   ? seconds_to_window_end(item.period)
                                   : (item.decision.reset_after.count() + 999'999'999) / 1'000'000'000;
    status->mutable_duration_until_reset()->set_seconds(reset);
    Counters& counters = counters_of(item.counters, item.series);
    if (item.over && item.shadow) {
      counters.shadow_mode.add(static_cast<std::uint64_t>(item.hits));
    } else if (item.over) {
      counters.over_limit.add(static_cast<std::uint64_t>(item.hits));
      status->set_code(rls::RateLimitResponse::OVER_LIMIT);
      over = true;
    } else {
      counters.within_limit.add(static_cast<std::uint64_t>(item.hits));
    }
    if (tightest == nullptr || status->limit_remaining() < tightest->limit_remaining()) tightest = status;
  }
  response.set_overall_code(over ? rls::RateLimitResponse::OVER_LIMIT : rls::RateLimitResponse::OK);
  if (snapshot.response_headers && tightest != nullptr) {
    // As upstream's: the limit's count, what is left, seconds to the reset.
    auto add = [&](const char* name, std::string value) {
      auto* header = response.add_response_headers_to_add();
      header->set_key(name);
      header->set_value(std::move(value));
    };
    add("RateLimit-Limit", std::to_string(tightest->current_limit().requests_per_unit()));
    add("RateLimit-Remaining", std::to_string(tightest->limit_remaining()));
    add("RateLimit-Reset", std::to_string(tightest->duration_until_reset().seconds()));
  }
  work.done();
}

std::string EnvoyService::metrics() const {
  std::string text;
  text.append("# HELP leaksnek_envoy_hits_total Envoy rate limit hits by domain, descriptor and outcome.\n");
  text.append("# TYPE leaksnek_envoy_hits_total counter\n");
  std::lock_guard lock{series_mutex_};
  for (const auto& [name, counters] : series_) {
    const std::string label = prometheus_label(name);
    for (auto [outcome, counter] :
         {std::pair{"within_limit", &counters->within_limit}, std::pair{"over_limit", &counters->over_limit},
          std::pair{"shadow_mode", &counters->shadow_mode}}) {
      text.append("leaksnek_envoy_hits_total{descriptor=\"").append(label).append("\",outcome=\"").append(outcome);
      text.append("\"} ").append(std::to_string(counter->load())).append("\n");
    }
  }
  return text;
}

}  // namespace leaksnek::cli
