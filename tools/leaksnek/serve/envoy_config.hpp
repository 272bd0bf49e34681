// envoyproxy/ratelimit's YAML configuration, read as is (as of its commit
// f2fb157), with leaksnek's extensions, and its matching rules: which
// configured descriptor a request's descriptor asks about, and under which
// counter key its hits are kept.
//
// The file, as upstream (src/config/config_impl.go):
//   domain: edge                  # required, not empty
//   descriptors:
//     - key: remote_address       # required, not empty
//       value: 1.2.3.4            # optional; '*' anywhere makes it a wildcard
//       rate_limit:               # optional
//         unit: second            # second ... year, any case
//         requests_per_unit: 10   # 0 to 2^32-1; 0 (or absent): every request is over the limit
//         unlimited: true         # instead of unit (a unit with it is refused)
//         name: n                 # replaces: [{name: other}]
//       shadow_mode: true         # also quota_mode, detailed_metric, value_to_metric,
//                                 # share_threshold (a wildcard value only); metadata: {...}
//       descriptors: [...]        # nested, 16 levels at most
// A key upstream does not know is refused anywhere; a key it knows, written
// where it has no meaning (`shadow_mode` inside `rate_limit`), is ignored as
// upstream ignores it, so that a file upstream loads loads here too.
//
// Extensions (refused by upstream, so no upstream file has them):
//   rate_limit:
//     algorithm: gcra             # one of the six; "fixed-window" (upstream's) by default
//     burst: 20                   # the bucket family only (gcra, token-bucket, leaky-bucket)
//     unit_multiplier: 5          # a window of 5 units; 1 by default; at most 100 years
//   rate_limits:                  # beside `key`, instead of `rate_limit`: 1 to 8 limits,
//     - {unit: second, requests_per_unit: 10}  # all-or-nothing, of one algorithm:
//     - {unit: hour, requests_per_unit: 500}   # those entries that name one agree
// An entry of `rate_limits` takes unit, requests_per_unit, algorithm, burst,
// unit_multiplier; `name` and `replaces` (for the whole descriptor) on one
// entry only; `unlimited` is refused there (use `rate_limit: {unlimited: true}`).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <leaksnek/values/rate_limit.hpp>

#include "serve/config_error.hpp"

namespace leaksnek::cli::envoy {

// A rate_limit's unit, as upstream: a week is 7 days, a month 30, a year 365.
enum class Unit { second, minute, hour, day, week, month, year };
[[nodiscard]] Duration unit_duration(Unit unit) noexcept;
[[nodiscard]] std::string_view unit_name(Unit unit) noexcept;  // "second", ...

// One limit: a descriptor's `rate_limit:`, or one map of its `rate_limits:`
// (an extension: several limits on one descriptor, all-or-nothing).
struct Limit {
  std::int64_t requests_per_unit = 0;
  Unit unit = Unit::second;
  std::int64_t unit_multiplier = 1;   // extension: a window of N units
  std::optional<std::int64_t> burst;  // extension: the bucket family only
  // requests_per_unit per unit_multiplier units, with burst. Throws RateError
  // when the limit denies all (a RateLimit counts at least 1) or the window
  // is longer than RateLimit::max_period.
  [[nodiscard]] RateLimit rate_limit() const;
  // Upstream's `requests_per_unit: 0` (its README's way to block an address):
  // every request over the limit, nothing counted.
  [[nodiscard]] bool denies_all() const noexcept { return requests_per_unit == 0; }
};

struct Descriptor {
  std::string key;
  // Empty: any value, one counter per value. Containing '*': a wildcard, each
  // '*' any run of characters (upstream's trailing and middle wildcards).
  // Otherwise exactly this value.
  std::string value;
  // The limits at this node (empty: none here; only children may match),
  // all of one algorithm (extension `algorithm:`, "fixed-window" by default).
  std::vector<Limit> limits;
  std::string algorithm = "fixed-window";
  bool unlimited = false;             // rate_limit.unlimited: always OK
  std::string name;                   // rate_limit.name
  std::vector<std::string> replaces;  // rate_limit.replaces[].name
  bool shadow_mode = false;
  bool quota_mode = false;  // upstream's quota_mode, kept for the service to honour or ignore
  bool detailed_metric = false;
  bool value_to_metric = false;
  bool share_threshold = false;
  std::vector<Descriptor> descriptors;  // nested
  // Where it was configured, for messages and metric names:
  // "domain.key_value.key2" as upstream's stats keys.
  std::string path;
  [[nodiscard]] bool has_limit() const noexcept { return unlimited || !limits.empty(); }
};

struct Domain {
  std::string name;
  std::string file;
  std::vector<Descriptor> descriptors;
};

// Parses one file's YAML (one domain). Throws ConfigError naming `file`, the
// domain and the key for anything upstream refuses (unknown keys, duplicate
// descriptors, a bad unit or count, a missing domain) and for bad extensions.
// At most 10,000 descriptors, nested 16 deep.
[[nodiscard]] Domain parse_envoy_yaml(std::string_view text, std::string_view file);

// Every `.yaml`/`.yml` file at `path`, a file (of any name) or a directory of
// them (not recursive, in name order, names starting with '.' skipped; none:
// no domains). Throws ConfigError for an unreadable file, one over 4 MiB, a
// directory of over 1,000 such files, a bad file, or a domain defined twice
// (naming both files; upstream's MERGE_DOMAIN_CONFIG is not supported).
[[nodiscard]] std::vector<Domain> load_envoy_yaml(const std::string& path);

struct Entry {
  std::string key;
  std::string value;
};

// What one request descriptor asks about, by upstream's rules: walking the
// entries in order, each matched among the current level's descriptors by
// exact key and value first, then by the first wildcard value (in the file's
// order) that matches, then by the bare key (empty value); the limit applies
// only when the last entry matched a node that has one. descriptor: nullptr
// when nothing matched (the request descriptor is answered OK, uncounted).
struct Match {
  const Descriptor* descriptor = nullptr;
  // The counter's key within the domain: the request's entries as
  // "k_v_k2_v2", upstream's cache key, with '\' and '_' in keys and values
  // escaped by a '\' so that no two entry lists share one. An entry matched
  // through a wildcard node with share_threshold (at any level) gives the
  // node's pattern instead of its value, so all values matching it share one
  // counter, as upstream.
  std::string counter_key;
};
[[nodiscard]] Match match(const Domain& domain, std::span<const Entry> entries);

}  // namespace leaksnek::cli::envoy
