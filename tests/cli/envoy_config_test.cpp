// envoyproxy/ratelimit's YAML read as upstream reads it: the cases of its
// test/config/config_test.go re-created, our extensions and their
// refusals, the bounds against hostile files, directory loading, and
// matching with its counter keys.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <string>
#include <vector>

#include "serve/envoy_config.hpp"

namespace leaksnek::cli::envoy {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

Domain parse(const std::string& yaml) { return parse_envoy_yaml(yaml, "limits.yaml"); }

// The message parse_envoy_yaml throws, or "" when it accepts the file.
std::string refusal(const std::string& yaml) {
  try {
    (void)parse(yaml);
  } catch (const ConfigError& error) {
    return error.what();
  }
  return "";
}

Match ask(const Domain& domain, std::initializer_list<Entry> entries) {
  const std::vector<Entry> list{entries};
  return match(domain, list);
}

// The requests_per_unit of the limit a request matches; -1: no match.
std::int64_t limit_of(const Domain& domain, std::initializer_list<Entry> entries) {
  const Match found = ask(domain, entries);
  if (found.descriptor == nullptr) return -1;
  if (found.descriptor->limits.empty()) return 0;
  return found.descriptor->limits.front().requests_per_unit;
}

// upstream's test/config/basic_config.yaml, as its TestBasicConfig reads it.
constexpr const char* basic_config = R"(
# Basic configuration for testing.
domain: test-domain
descriptors:
  - key: key1
    value: value1
    descriptors:
      - key: subkey1
        rate_limit:
          unit: second
          requests_per_unit: 5
      - key: subkey1
        value: subvalue1
        rate_limit:
          unit: second
          requests_per_unit: 10
  - key: key2
    rate_limit:
      unit: minute
      requests_per_unit: 20
  - key: key2
    value: value2
    rate_limit:
      unit: minute
      requests_per_unit: 30
  - key: key2
    value: value3
  - key: key3
    rate_limit:
      unit: hour
      requests_per_unit: 1
  - key: key4
    rate_limit:
      unit: day
      requests_per_unit: 1
  - key: key5
    value: value5
    rate_limit:
      unit: day
      requests_per_unit: 15
    descriptors:
      - key: subkey5
        value: subvalue5
        rate_limit:
          unit: day
          requests_per_unit: 25
  - key: key6
    rate_limit:
      unlimited: true
  - key: key7
    rate_limit:
      unit: minute
      requests_per_unit: 70
    detailed_metric: true
)";

TEST(EnvoyYaml, BasicConfigMatchesAsUpstream) {
  const Domain domain = parse(basic_config);
  EXPECT_EQ(domain.name, "test-domain");
  EXPECT_EQ(domain.file, "limits.yaml");
  ASSERT_EQ(domain.descriptors.size(), 9u);

  EXPECT_EQ(limit_of(domain, {}), -1);
  EXPECT_EQ(limit_of(domain, {{"key1", "something"}}), -1);
  EXPECT_EQ(limit_of(domain, {{"key1", "value1"}}), -1);  // no limit at that depth
  EXPECT_EQ(limit_of(domain, {{"key2", "value2"}, {"subkey", "subvalue"}}), -1);
  // key5_value5 has a limit, but not at the depth of the request's last entry.
  EXPECT_EQ(limit_of(domain, {{"key5", "value5"}, {"subkey5", "subvalue"}}), -1);
  EXPECT_EQ(limit_of(domain, {{"key5", "value5"}}), 15);
  EXPECT_EQ(limit_of(domain, {{"key5", "value5"}, {"subkey5", "subvalue5"}}), 25);

  Match found = ask(domain, {{"key1", "value1"}, {"subkey1", "something"}});
  ASSERT_NE(found.descriptor, nullptr);
  EXPECT_EQ(found.descriptor->limits.at(0).requests_per_unit, 5);
  EXPECT_EQ(found.descriptor->limits.at(0).unit, Unit::second);
  EXPECT_EQ(found.descriptor->path, "test-domain.key1_value1.subkey1");
  EXPECT_EQ(found.counter_key, "key1_value1_subkey1_something");

  found = ask(domain, {{"key1", "value1"}, {"subkey1", "subvalue1"}});
  ASSERT_NE(found.descriptor, nullptr);
  EXPECT_EQ(found.descriptor->limits.at(0).requests_per_unit, 10);
  EXPECT_EQ(found.descriptor->path, "test-domain.key1_value1.subkey1_subvalue1");

  found = ask(domain, {{"key2", "something"}});
  ASSERT_NE(found.descriptor, nullptr);
  EXPECT_EQ(found.descriptor->limits.at(0).requests_per_unit, 20);
  EXPECT_EQ(found.descriptor->limits.at(0).unit, Unit::minute);
  EXPECT_EQ(found.descriptor->path, "test-domain.key2");

  EXPECT_EQ(limit_of(domain, {{"key2", "value2"}}), 30);
  EXPECT_EQ(limit_of(domain, {{"key2", "value3"}}), -1);  // listed without a limit: allowed
  EXPECT_EQ(ask(domain, {{"key3", "foo"}}).descriptor->limits.at(0).unit, Unit::hour);
  EXPECT_EQ(ask(domain, {{"key4", "foo"}}).descriptor->limits.at(0).unit, Unit::day);

  found = ask(domain, {{"key6", "foo"}});
  ASSERT_NE(found.descriptor, nullptr);
  EXPECT_TRUE(found.descriptor->unlimited);
  EXPECT_TRUE(found.descriptor->has_limit());
  EXPECT_TRUE(found.descriptor->limits.empty());

  found = ask(domain, {{"key7", "unspecified_value"}});
  ASSERT_NE(found.descriptor, nullptr);
  EXPECT_TRUE(found.descriptor->detailed_metric);
  EXPECT_EQ(found.descriptor->limits.at(0).requests_per_unit, 70);
}

TEST(EnvoyYaml, UnknownDomainKeyOrValueDoesNotMatch) {
  const Domain domain = parse(basic_config);
  EXPECT_EQ(limit_of(domain, {{"nokey", "x"}}), -1);
  EXPECT_EQ(limit_of(domain, {{"key1", "value1"}, {"nosub", "x"}}), -1);
  EXPECT_EQ(limit_of(domain, {{"key3", "foo"}, {"deeper", "x"}}), -1);  // no children to descend into
}

TEST(EnvoyYaml, UnitsAreCaseInsensitiveWithUpstreamLengths) {
  const Domain domain = parse(R"(
domain: d
descriptors:
  - {key: a, rate_limit: {unit: Second, requests_per_unit: 1}}
  - {key: b, rate_limit: {unit: MINUTE, requests_per_unit: 1}}
  - {key: c, rate_limit: {unit: hour, requests_per_unit: 1}}
  - {key: d, rate_limit: {unit: Day, requests_per_unit: 1}}
  - {key: e, rate_limit: {unit: week, requests_per_unit: 1}}
  - {key: f, rate_limit: {unit: month, requests_per_unit: 1}}
  - {key: g, rate_limit: {unit: YEAR, requests_per_unit: 1}}
)");
  const std::vector<Unit> expected{Unit::second, Unit::minute, Unit::hour, Unit::day,
                                   Unit::week,   Unit::month,  Unit::year};
  ASSERT_EQ(domain.descriptors.size(), expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) EXPECT_EQ(domain.descriptors[i].limits.at(0).unit, expected[i]);

  EXPECT_EQ(unit_duration(Unit::second), seconds{1});
  EXPECT_EQ(unit_duration(Unit::minute), minutes{1});
  EXPECT_EQ(unit_duration(Unit::hour), hours{1});
  EXPECT_EQ(unit_duration(Unit::day), hours{24});
  EXPECT_EQ(unit_duration(Unit::week), hours{24 * 7});
  EXPECT_EQ(unit_duration(Unit::month), hours{24 * 30});
  EXPECT_EQ(unit_duration(Unit::year), hours{24 * 365});
  EXPECT_EQ(unit_name(Unit::second), "second");
  EXPECT_EQ(unit_name(Unit::week), "week");
  EXPECT_EQ(unit_name(Unit::year), "year");
}

TEST(EnvoyYaml, BadUnitRefused) {
  EXPECT_EQ(
      refusal("domain: d\ndescriptors:\n  - key: k\n    rate_limit:\n      unit: foo\n      requests_per_unit: 1\n"),
      "limits.yaml: domain \"d\", descriptor \"k\", rate_limit: invalid rate limit unit \"foo\" (line 5)");
  EXPECT_NE(refusal("domain: d\ndescriptors: [{key: k, rate_limit: {requests_per_unit: 1}}]")
                .find("invalid rate limit unit \"\""),
            std::string::npos);
  // "unknown" is upstream's enum's zero, not a unit.
  EXPECT_NE(refusal("domain: d\ndescriptors: [{key: k, rate_limit: {unit: unknown, requests_per_unit: 1}}]")
                .find("invalid rate limit unit"),
            std::string::npos);
  EXPECT_NE(refusal("domain: d\ndescriptors: [{key: k, rate_limit: {unit: millisecond, requests_per_unit: 1}}]")
                .find("invalid rate limit unit"),
            std::string::npos);
}

TEST(EnvoyYaml, UnlimitedRefusesAUnitButNotRequestsPerUnit) {
  EXPECT_NE(refusal("domain: d\ndescriptors: [{key: k, rate_limit: {unlimited: true, unit: second}}]")
                .find("should not specify rate limit unit when unlimited"),
            std::string::npos);
  // As upstream: requests_per_unit and an unrecognised unit beside unlimited are ignored.
  const Domain domain = parse(R"(
domain: d
descriptors:
  - {key: a, rate_limit: {unlimited: true, requests_per_unit: 5}}
  - {key: b, rate_limit: {unlimited: true, unit: nonsense}}
)");
  EXPECT_TRUE(domain.descriptors.at(0).unlimited);
  EXPECT_TRUE(domain.descriptors.at(0).limits.empty());
  EXPECT_TRUE(domain.descriptors.at(1).unlimited);
}

TEST(EnvoyYaml, MissingOrEmptyDomainRefused) {
  EXPECT_EQ(refusal(""), "limits.yaml: config file cannot have empty domain");
  EXPECT_NE(refusal("descriptors: [{key: k}]").find("limits.yaml: config file cannot have empty domain"),
            std::string::npos);
  EXPECT_NE(refusal("domain: ''\ndescriptors: []").find("config file cannot have empty domain"), std::string::npos);
  EXPECT_NE(refusal("- domain: d").find("limits.yaml: the file must be a map"), std::string::npos);
  // A domain with no descriptors is upstream's too.
  EXPECT_TRUE(parse("domain: d").descriptors.empty());
}

TEST(EnvoyYaml, EmptyKeyRefused) {
  EXPECT_NE(refusal("domain: d\ndescriptors:\n  - value: v\n").find("descriptor #1: descriptor has empty key"),
            std::string::npos);
  EXPECT_NE(refusal("domain: d\ndescriptors:\n  - key: a\n    descriptors:\n      - key: ''\n")
                .find("descriptor #1 under \"a\": descriptor has empty key"),
            std::string::npos);
}

TEST(EnvoyYaml, DuplicateDescriptorRefused) {
  // upstream's test/config/duplicate_key.yaml
  EXPECT_EQ(refusal(R"(domain: test-domain
descriptors:
  - key: key1
    value: value1
    rate_limit: {unit: second, requests_per_unit: 5}
  - key: key1
    value: value1
    rate_limit: {unit: second, requests_per_unit: 10}
)"),
            "limits.yaml: domain \"test-domain\", descriptor \"key1_value1\": duplicate descriptor composite key "
            "\"test-domain.key1_value1\" (line 6)");
  EXPECT_NE(refusal("domain: d\ndescriptors:\n  - key: a\n    descriptors: [{key: b}, {key: b}]\n")
                .find("duplicate descriptor composite key \"d.a.b\""),
            std::string::npos);
  // Upstream files siblings by "key_value": these two collide there too.
  EXPECT_NE(refusal("domain: d\ndescriptors: [{key: a, value: b_c}, {key: a_b, value: c}]").find("duplicate"),
            std::string::npos);
  // The same key+value under different parents, or with different values, is fine.
  const Domain domain = parse(R"(
domain: d
descriptors:
  - {key: a, descriptors: [{key: x, value: y, rate_limit: {unit: second, requests_per_unit: 1}}]}
  - {key: b, descriptors: [{key: x, value: y, rate_limit: {unit: second, requests_per_unit: 2}}]}
  - {key: a, value: v}
)");
  EXPECT_EQ(limit_of(domain, {{"a", "1"}, {"x", "y"}}), 1);
  EXPECT_EQ(limit_of(domain, {{"b", "1"}, {"x", "y"}}), 2);
}

TEST(EnvoyYaml, UnknownKeyRefusedAnywhere) {
  EXPECT_EQ(refusal(R"(domain: edge
descriptors:
  - key: remote_address
    value: 1.2.3.4
    rate_limt:
      unit: second
      requests_per_unit: 1
)"),
            "limits.yaml: domain \"edge\", descriptor \"remote_address_1.2.3.4\": unknown key \"rate_limt\" (line 5)");
  // upstream's misspelled_key.yaml and misspelled_key2.yaml
  EXPECT_NE(refusal("domain: d\ndescriptors: [{key: k, ratelimit: {unit: second, requests_per_unit: 5}}]")
                .find("unknown key \"ratelimit\""),
            std::string::npos);
  EXPECT_NE(refusal("domain: d\ndescriptors: [{key: k, rate_limit: {unit: second, requestsperunit: 5}}]")
                .find("descriptor \"k\", rate_limit: unknown key \"requestsperunit\""),
            std::string::npos);
  EXPECT_NE(refusal("domain: d\nextra: 1\n").find("limits.yaml: domain \"d\": unknown key \"extra\""),
            std::string::npos);
  EXPECT_NE(refusal("domain: d\ndescriptors: [{key: k, rate_limit: {unit: second, replaces: [{nmae: x}]}}]")
                .find("unknown key \"nmae\""),
            std::string::npos);
  // Inside a key upstream knows but ignores here, its keys are still checked.
  EXPECT_NE(refusal("domain: d\ndescriptors: [{key: k, unit: {bogus: 1}}]").find("unknown key \"bogus\""),
            std::string::npos);
}

TEST(EnvoyYaml, KnownKeyInTheWrongPlaceIgnoredAsUpstream) {
  const Domain domain = parse(R"(
domain: d
descriptors:
  - key: k
    unit: minute
    rate_limit:
      unit: second
      requests_per_unit: 3
      shadow_mode: true
)");
  const Descriptor& descriptor = domain.descriptors.at(0);
  EXPECT_FALSE(descriptor.shadow_mode);  // upstream reads shadow_mode beside rate_limit only
  EXPECT_EQ(descriptor.limits.at(0).unit, Unit::second);
}

TEST(EnvoyYaml, MalformedShapesRefused) {
  // upstream's non_string_key.yaml and non_map_list.yaml
  EXPECT_NE(refusal("domain: d\ndescriptors:\n  - key: k\n    0.25: x\n").find("key is not of type string"),
            std::string::npos);
  EXPECT_NE(refusal("domain: d\ndescriptors:\n  - a\n").find("list of type other than map"), std::string::npos);
  EXPECT_NE(refusal("domain: d\ndescriptors: {key: k}\n").find("\"descriptors\" must be a list"), std::string::npos);
  EXPECT_NE(refusal("domain: d\ndescriptors: [{key: k, rate_limit: [1]}]").find("rate_limit: must be a map"),
            std::string::npos);
  EXPECT_NE(refusal("domain: d\ndescriptors: [{key: k, key: j}]").find("duplicate key \"key\""), std::string::npos);
  // upstream's key check refuses a float anywhere.
  EXPECT_NE(refusal("domain: d\ndescriptors: [{key: k, value: 1.5}]").find("\"value\" must be a string"),
            std::string::npos);
  // upstream's bad_yaml.yaml
  EXPECT_NE(refusal("domain: d\ndescriptors:\n  - key: [\n").find("limits.yaml: error loading config file:"),
            std::string::npos);
}

TEST(EnvoyYaml, ScalarsReadAsYamlV2Reads) {
  const Domain domain = parse(R"(
domain: 123
descriptors:
  - key: port
    value: 8080
    shadow_mode: yes
    rate_limit: {unit: second, requests_per_unit: 0x10}
  - key: flag
    value: true
    rate_limit:
)");
  EXPECT_EQ(domain.name, "123");
  EXPECT_EQ(domain.descriptors.at(0).value, "8080");
  EXPECT_TRUE(domain.descriptors.at(0).shadow_mode);
  EXPECT_EQ(domain.descriptors.at(0).limits.at(0).requests_per_unit, 16);
  EXPECT_EQ(domain.descriptors.at(1).value, "true");
  EXPECT_FALSE(domain.descriptors.at(1).has_limit());  // `rate_limit:` with nothing: none, as upstream

  EXPECT_NE(refusal("domain: d\ndescriptors: [{key: k, shadow_mode: maybe}]").find("\"shadow_mode\" must be true"),
            std::string::npos);
  EXPECT_NE(refusal("domain: d\ndescriptors: [{key: k, shadow_mode: 'true'}]").find("\"shadow_mode\" must be true"),
            std::string::npos);
}

TEST(EnvoyYaml, RequestsPerUnitBounds) {
  const Domain domain = parse(R"(
domain: d
descriptors:
  - {key: blocked, value: 50.0.0.5, rate_limit: {unit: second, requests_per_unit: 0}}
  - {key: forgot, rate_limit: {unit: second}}
  - {key: most, rate_limit: {unit: second, requests_per_unit: 4294967295}}
)");
  // upstream's README: 0 blocks every request.
  const Limit& blocked = domain.descriptors.at(0).limits.at(0);
  EXPECT_TRUE(blocked.denies_all());
  EXPECT_THROW((void)blocked.rate_limit(), RateError);
  // upstream reads an absent requests_per_unit as 0.
  EXPECT_TRUE(domain.descriptors.at(1).limits.at(0).denies_all());
  EXPECT_EQ(domain.descriptors.at(2).limits.at(0).rate_limit().count(), 4294967295);
  EXPECT_FALSE(domain.descriptors.at(2).limits.at(0).denies_all());

  EXPECT_NE(refusal("domain: d\ndescriptors: [{key: k, rate_limit: {unit: second, requests_per_unit: -1}}]")
                .find("\"requests_per_unit\" must be from 0 to 4294967295, got -1"),
            std::string::npos);
  EXPECT_NE(refusal("domain: d\ndescriptors: [{key: k, rate_limit: {unit: second, requests_per_unit: 4294967296}}]")
                .find("must be from 0 to 4294967295"),
            std::string::npos);
  EXPECT_NE(refusal("domain: d\ndescriptors: [{key: k, rate_limit: {unit: second, requests_per_unit: '5'}}]")
                .find("\"requests_per_unit\" must be an integer"),
            std::string::npos);
  EXPECT_NE(refusal("domain: d\ndescriptors: [{key: k, rate_limit: {unit: second, requests_per_unit: 2.5}}]")
                .find("\"requests_per_unit\" must be an integer"),
            std::string::npos);
}

TEST(EnvoyYaml, ReplacesAndName) {
  const Domain domain = parse(R"(
domain: example7
descriptors:
  - key: key_1
    value: value_1
    descriptors:
      - key: user
        value: bkthomps
        rate_limit: {name: specific_limit, requests_per_unit: 5, unit: second}
  - key: key_2
    value: value_2
    descriptors:
      - key: user
        value: bkthomps
        rate_limit:
          replaces:
            - name: specific_limit
            - name: other
          requests_per_unit: 10
          unit: second
)");
  const Match named = ask(domain, {{"key_1", "value_1"}, {"user", "bkthomps"}});
  ASSERT_NE(named.descriptor, nullptr);
  EXPECT_EQ(named.descriptor->name, "specific_limit");
  const Match replacing = ask(domain, {{"key_2", "value_2"}, {"user", "bkthomps"}});
  ASSERT_NE(replacing.descriptor, nullptr);
  EXPECT_EQ(replacing.descriptor->replaces, (std::vector<std::string>{"specific_limit", "other"}));

  // upstream's replaces_empty.yaml and replaces_self.yaml
  EXPECT_NE(refusal("domain: d\ndescriptors: [{key: k, rate_limit: {unit: second, replaces: [{name: ''}]}}]")
                .find("should not have an empty replaces entry"),
            std::string::npos);
  EXPECT_NE(refusal("domain: d\ndescriptors: [{key: k, rate_limit: {unit: second, name: n, replaces: [{name: n}]}}]")
                .find("replaces should not contain name of same descriptor"),
            std::string::npos);
}

TEST(EnvoyYaml, DescriptorFlags) {
  const Domain domain = parse(R"(
domain: example6
descriptors:
  - key: service
    descriptors:
      - key: user
        value: user-a
        rate_limit: {requests_per_unit: 10, unit: second}
        shadow_mode: true
        quota_mode: true
        detailed_metric: true
        value_to_metric: true
        metadata:
          service_with_quota:
            name: service_2
      - key: user
        value: user-b
        rate_limit: {requests_per_unit: 20, unit: second}
)");
  const Match a = ask(domain, {{"service", "auth-service"}, {"user", "user-a"}});
  ASSERT_NE(a.descriptor, nullptr);
  EXPECT_TRUE(a.descriptor->shadow_mode);
  EXPECT_TRUE(a.descriptor->quota_mode);
  EXPECT_TRUE(a.descriptor->detailed_metric);
  EXPECT_TRUE(a.descriptor->value_to_metric);
  const Match b = ask(domain, {{"service", "auth-service"}, {"user", "user-b"}});
  ASSERT_NE(b.descriptor, nullptr);
  EXPECT_FALSE(b.descriptor->shadow_mode);
  EXPECT_FALSE(b.descriptor->quota_mode);
  EXPECT_EQ(b.descriptor->limits.at(0).requests_per_unit, 20);

  EXPECT_NE(refusal("domain: d\ndescriptors: [{key: k, metadata: [1]}]").find("\"metadata\" must be a map"),
            std::string::npos);
}

TEST(EnvoyYaml, ShareThresholdNeedsAWildcard) {
  EXPECT_NE(refusal("domain: d\ndescriptors: [{key: k, value: v, share_threshold: true}]")
                .find("share_threshold can only be used with wildcard values"),
            std::string::npos);
  EXPECT_NE(refusal("domain: d\ndescriptors: [{key: k, share_threshold: true}]").find("share_threshold"),
            std::string::npos);
}

TEST(EnvoyExtensions, AlgorithmDefaultsToFixedWindow) {
  const Domain domain = parse("domain: d\ndescriptors: [{key: k, rate_limit: {unit: minute, requests_per_unit: 7}}]");
  const Descriptor& descriptor = domain.descriptors.at(0);
  EXPECT_EQ(descriptor.algorithm, "fixed-window");
  const RateLimit rate = descriptor.limits.at(0).rate_limit();
  EXPECT_EQ(rate.count(), 7);
  EXPECT_EQ(rate.period(), minutes{1});
  EXPECT_EQ(rate.burst(), 7);
}

TEST(EnvoyExtensions, BucketAlgorithmWithBurst) {
  const Domain domain = parse(R"(
domain: d
descriptors:
  - key: k
    rate_limit: {unit: second, requests_per_unit: 10, algorithm: gcra, burst: 25}
  - key: j
    rate_limit: {unit: second, requests_per_unit: 10, algorithm: sliding-log}
)");
  const Descriptor& descriptor = domain.descriptors.at(0);
  EXPECT_EQ(descriptor.algorithm, "gcra");
  EXPECT_EQ(descriptor.limits.at(0).burst, 25);
  EXPECT_EQ(descriptor.limits.at(0).rate_limit().burst(), 25);
  EXPECT_EQ(domain.descriptors.at(1).algorithm, "sliding-log");

  EXPECT_NE(refusal("domain: d\ndescriptors: [{key: k, rate_limit: {unit: second, requests_per_unit: 1, burst: 5}}]")
                .find("\"burst\" is only for the bucket family (gcra, token-bucket, leaky-bucket), not "
                      "\"fixed-window\""),
            std::string::npos);
  EXPECT_NE(refusal("domain: d\ndescriptors: [{key: k, rate_limit: {unit: second, algorithm: sliding-window, "
                    "requests_per_unit: 1, burst: 5}}]")
                .find("not \"sliding-window\""),
            std::string::npos);
  EXPECT_NE(refusal("domain: d\ndescriptors: [{key: k, rate_limit: {unit: second, algorithm: gcra, burst: 0}}]")
                .find("\"burst\" must be from 1 to"),
            std::string::npos);
  EXPECT_NE(refusal("domain: d\ndescriptors: [{key: k, rate_limit: {unit: second, algorithm: token_bucket}}]")
                .find("unknown algorithm \"token_bucket\""),
            std::string::npos);
}

TEST(EnvoyExtensions, UnitMultiplier) {
  const Domain domain = parse(R"(
domain: test-domain
descriptors:
  - key: key1
    rate_limit: {unit: minute, requests_per_unit: 20, unit_multiplier: 5}
  - key: key2
    rate_limit: {unit: minute, requests_per_unit: 25}
  - key: key3
    rate_limit: {unit: year, requests_per_unit: 1, unit_multiplier: 100}
)");
  EXPECT_EQ(domain.descriptors.at(0).limits.at(0).unit_multiplier, 5);
  EXPECT_EQ(domain.descriptors.at(0).limits.at(0).rate_limit().period(), minutes{5});
  EXPECT_EQ(domain.descriptors.at(1).limits.at(0).unit_multiplier, 1);
  EXPECT_EQ(domain.descriptors.at(1).limits.at(0).rate_limit().period(), minutes{1});
  EXPECT_EQ(domain.descriptors.at(2).limits.at(0).rate_limit().period(), RateLimit::max_period);

  EXPECT_NE(refusal("domain: d\ndescriptors: [{key: k, rate_limit: {unit: second, requests_per_unit: 5, "
                    "unit_multiplier: 0}}]")
                .find("\"unit_multiplier\" must be from 1 to"),
            std::string::npos);
  EXPECT_NE(refusal("domain: d\ndescriptors: [{key: k, rate_limit: {unit: year, requests_per_unit: 5, "
                    "unit_multiplier: 101}}]")
                .find("\"unit_multiplier\" must be from 1 to 100, got 101"),
            std::string::npos);
  Limit hand_made;
  hand_made.requests_per_unit = 1;
  hand_made.unit_multiplier = 0;
  EXPECT_THROW((void)hand_made.rate_limit(), RateError);
}

TEST(EnvoyExtensions, ExtensionsRefusedWhenUnlimited) {
  for (const char* extra : {"algorithm: gcra", "burst: 3", "unit_multiplier: 2"}) {
    EXPECT_NE(refusal(std::string{"domain: d\ndescriptors: [{key: k, rate_limit: {unlimited: true, "} + extra + "}}]")
                  .find("has no effect when unlimited"),
              std::string::npos)
        << extra;
  }
}

TEST(EnvoyExtensions, SeveralLimitsOnOneDescriptor) {
  const Domain domain = parse(R"(
domain: d
descriptors:
  - key: user
    rate_limits:
      - {unit: second, requests_per_unit: 10, burst: 20}
      - {unit: hour, requests_per_unit: 500, algorithm: token-bucket, name: per_user}
      - {unit: day, requests_per_unit: 2000, unit_multiplier: 2, replaces: [{name: global}]}
)");
  const Match found = ask(domain, {{"user", "alice"}});
  ASSERT_NE(found.descriptor, nullptr);
  const Descriptor& descriptor = *found.descriptor;
  EXPECT_EQ(descriptor.algorithm, "token-bucket");  // named on one entry, shared by all
  ASSERT_EQ(descriptor.limits.size(), 3u);
  EXPECT_EQ(descriptor.limits[0].rate_limit().burst(), 20);
  EXPECT_EQ(descriptor.limits[1].rate_limit(), RateLimit(500, hours{1}));
  EXPECT_EQ(descriptor.limits[2].rate_limit().period(), hours{48});
  EXPECT_EQ(descriptor.name, "per_user");
  EXPECT_EQ(descriptor.replaces, std::vector<std::string>{"global"});
}

TEST(EnvoyExtensions, SeveralLimitsRefusals) {
  const std::string head = "domain: d\ndescriptors:\n  - key: k\n";
  EXPECT_NE(refusal(head + "    rate_limit: {unit: second, requests_per_unit: 1}\n"
                           "    rate_limits: [{unit: hour, requests_per_unit: 2}]\n")
                .find("\"rate_limit\" and \"rate_limits\" together"),
            std::string::npos);
  EXPECT_NE(refusal(head + "    rate_limits: []\n").find("must be a list of 1 to 8 limits"), std::string::npos);
  std::string nine = head + "    rate_limits:\n";
  for (int i = 0; i < 9; ++i) nine += "      - {unit: second, requests_per_unit: " + std::to_string(i + 1) + "}\n";
  EXPECT_NE(refusal(nine).find("must be a list of 1 to 8 limits"), std::string::npos);
  EXPECT_NE(refusal(head + "    rate_limits:\n"
                           "      - {unit: second, requests_per_unit: 1, algorithm: gcra}\n"
                           "      - {unit: hour, requests_per_unit: 2, algorithm: sliding-window}\n")
                .find("must share one algorithm, got \"gcra\" and \"sliding-window\""),
            std::string::npos);
  EXPECT_NE(refusal(head + "    rate_limits: [{unlimited: true}]\n").find("\"unlimited\" belongs in rate_limit"),
            std::string::npos);
  EXPECT_NE(refusal(head + "    rate_limits:\n"
                           "      - {unit: second, requests_per_unit: 1, name: a}\n"
                           "      - {unit: hour, requests_per_unit: 2, name: b}\n")
                .find("rate_limits #2: \"name\" may be given on one entry of rate_limits only"),
            std::string::npos);
  EXPECT_NE(refusal(head + "    rate_limits:\n"
                           "      - {unit: second, requests_per_unit: 1, name: a}\n"
                           "      - {unit: hour, requests_per_unit: 2, replaces: [{name: a}]}\n")
                .find("replaces should not contain name of same descriptor"),
            std::string::npos);
  // A burst is checked against the algorithm all the entries share.
  EXPECT_NE(refusal(head + "    rate_limits:\n"
                           "      - {unit: second, requests_per_unit: 1, burst: 4}\n"
                           "      - {unit: hour, requests_per_unit: 2}\n")
                .find("rate_limits #1: \"burst\" is only for the bucket family"),
            std::string::npos);
  EXPECT_NE(refusal(head + "    rate_limits: [{unit: second, requests_per_unit: 1, shadow_mode: true}]\n")
                .find("unknown key"),
            std::string::npos);
  EXPECT_NE(refusal(head + "    rate_limits: [{requests_per_unit: 1}]\n").find("invalid rate limit unit"),
            std::string::npos);
}

TEST(EnvoyExtensions, ExtensionKeysRefusedOutsideTheirPlace) {
  EXPECT_NE(refusal("domain: d\ndescriptors: [{key: k, algorithm: gcra}]").find("unknown key \"algorithm\""),
            std::string::npos);
  EXPECT_NE(refusal("domain: d\nrate_limits: []").find("unknown key \"rate_limits\""), std::string::npos);
}

TEST(EnvoyBounds, NestingDepth) {
  auto nested = [](int levels) {
    std::string yaml = "domain: d\ndescriptors:\n";
    std::string indent = "  ";
    for (int level = 1; level <= levels; ++level) {
      yaml += indent + "- key: k" + std::to_string(level) + "\n";
      if (level == levels) {
        yaml += indent + "  rate_limit: {unit: second, requests_per_unit: 1}\n";
      } else {
        yaml += indent + "  descriptors:\n";
      }
      indent += "    ";
    }
    return yaml;
  };
  const Domain deep = parse(nested(16));
  std::vector<Entry> entries;
  for (int level = 1; level <= 16; ++level) entries.push_back({"k" + std::to_string(level), "v"});
  EXPECT_NE(match(deep, entries).descriptor, nullptr);
  EXPECT_NE(refusal(nested(17)).find("descriptors nested deeper than 16 levels"), std::string::npos);
}

TEST(EnvoyBounds, DescriptorsPerFile) {
  auto siblings = [](int count) {
    std::string yaml = "domain: d\ndescriptors:\n";
    for (int i = 0; i < count; ++i) yaml += "  - {key: k, value: v" + std::to_string(i) + "}\n";
    return yaml;
  };
  EXPECT_EQ(parse(siblings(10'000)).descriptors.size(), 10'000u);
  EXPECT_NE(refusal(siblings(10'001)).find("more than 10000 descriptors in one file"), std::string::npos);
}

TEST(EnvoyBounds, AliasesCannotMultiplyWork) {
  // Keys upstream knows but ignores at the top, each level repeating the
  // one before ten times through an alias: 10^7 maps if walked in full.
  const std::vector<std::string> keys{"name",     "unit",      "value",       "key",
                                      "replaces", "unlimited", "shadow_mode", "quota_mode"};
  std::string yaml = "domain: d\nname: &a0 [{name: n}]\n";
  for (std::size_t i = 1; i < keys.size(); ++i) {
    yaml += keys[i] + ": &a" + std::to_string(i) + " [";
    for (int j = 0; j < 10; ++j) yaml += std::string{j > 0 ? ", " : ""} + "{replaces: *a" + std::to_string(i - 1) + "}";
    yaml += "]\n";
  }
  EXPECT_NE(refusal(yaml).find("too large or nested too deep"), std::string::npos);
}

TEST(EnvoyBounds, FileSize) {
  std::string yaml = "domain: d\n# ";
  yaml.append(4 * 1024 * 1024, 'x');
  EXPECT_NE(refusal(yaml).find("larger than 4 MiB"), std::string::npos);
}

TEST(EnvoyBounds, ReplacesPerLimit) {
  std::string yaml = "domain: d\ndescriptors: [{key: k, rate_limit: {unit: second, replaces: [";
  for (int i = 0; i < 65; ++i) yaml += std::string{i > 0 ? ", " : ""} + "{name: r" + std::to_string(i) + "}";
  yaml += "]}}]";
  EXPECT_NE(refusal(yaml).find("more than 64 replaces entries"), std::string::npos);
}

class EnvoyLoad : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    directory_ = std::filesystem::temp_directory_path() /
                 (std::string{"leaksnek_envoy_"} + info->name() + "_" + std::to_string(::getpid()));
    std::filesystem::remove_all(directory_);
    std::filesystem::create_directories(directory_);
  }
  void TearDown() override { std::filesystem::remove_all(directory_); }

  std::string write(const std::string& name, const std::string& text) const {
    const std::filesystem::path path = directory_ / name;
    std::ofstream{path} << text;
    return path.string();
  }

  std::string load_error(const std::string& path) const {
    try {
      (void)load_envoy_yaml(path);
    } catch (const ConfigError& error) {
      return error.what();
    }
    return "";
  }

  std::filesystem::path directory_;
};

TEST_F(EnvoyLoad, DirectoryInNameOrder) {
  write("b.yaml", "domain: second\ndescriptors: [{key: k, rate_limit: {unit: second, requests_per_unit: 2}}]\n");
  write("a.yml", "domain: first\ndescriptors: [{key: k, rate_limit: {unit: second, requests_per_unit: 1}}]\n");
  write("notes.txt", "not yaml: [");
  write(".hidden.yaml", "not yaml: [");
  const std::vector<Domain> domains = load_envoy_yaml(directory_.string());
  ASSERT_EQ(domains.size(), 2u);
  EXPECT_EQ(domains[0].name, "first");
  EXPECT_EQ(domains[0].file, (directory_ / "a.yml").string());
  EXPECT_EQ(domains[1].name, "second");
  EXPECT_EQ(limit_of(domains[1], {{"k", "x"}}), 2);
}

TEST_F(EnvoyLoad, DuplicateDomainNamesBothFiles) {
  const std::string first = write("a.yaml", "domain: test-domain\n");
  const std::string second = write("b.yaml", "domain: test-domain\n");
  EXPECT_EQ(load_error(directory_.string()), second + ": duplicate domain \"test-domain\" (also in " + first + ")");
}

TEST_F(EnvoyLoad, OneFileOfAnyName) {
  const std::string path = write("limits.conf", "domain: only\n");
  const std::vector<Domain> domains = load_envoy_yaml(path);
  ASSERT_EQ(domains.size(), 1u);
  EXPECT_EQ(domains[0].name, "only");
  EXPECT_EQ(domains[0].file, path);
}

TEST_F(EnvoyLoad, BadFileNamedInItsMessage) {
  const std::string path = write("bad.yaml", "domain: d\ndescriptors: [{key: k, rate_limt: {}}]\n");
  EXPECT_EQ(load_error(directory_.string()).rfind(path + ": domain \"d\", descriptor \"k\": unknown key", 0), 0u);
  EXPECT_EQ(load_error((directory_ / "missing.yaml").string())
                .rfind((directory_ / "missing.yaml").string() + ": cannot read", 0),
            0u);
}

TEST_F(EnvoyLoad, Bounds) {
  std::string big = "domain: d\n# ";
  big.append(4 * 1024 * 1024, 'x');
  const std::string path = write("big.yaml", big);
  EXPECT_EQ(load_error(path), path + ": larger than 4 MiB");
  std::filesystem::remove(path);
  for (int i = 0; i < 1001; ++i) write("d" + std::to_string(i) + ".yaml", "domain: d" + std::to_string(i) + "\n");
  EXPECT_NE(load_error(directory_.string()).find("more than 1000 .yaml/.yml files"), std::string::npos);
}

TEST_F(EnvoyLoad, EmptyDirectoryHasNoDomains) { EXPECT_TRUE(load_envoy_yaml(directory_.string()).empty()); }

// upstream's test/config/wildcard.yaml
constexpr const char* wildcard_config = R"(
domain: test-domain
descriptors:
  - {key: wild, value: foo*, rate_limit: {unit: minute, requests_per_unit: 20}}
  - {key: noWild, value: foo, rate_limit: {unit: minute, requests_per_unit: 20}}
  - {key: noVal, rate_limit: {unit: minute, requests_per_unit: 20}}
  - {key: midWild, value: bar*b, rate_limit: {unit: minute, requests_per_unit: 20}}
  - {key: multi, value: svc*ep*rpc, rate_limit: {unit: minute, requests_per_unit: 20}}
)";

TEST(EnvoyMatch, Wildcards) {
  const Domain domain = parse(wildcard_config);
  EXPECT_EQ(limit_of(domain, {{"wild", "foo1"}}), 20);
  EXPECT_EQ(limit_of(domain, {{"wild", "foo"}}), 20);
  EXPECT_EQ(limit_of(domain, {{"wild", "bar"}}), -1);
  EXPECT_EQ(limit_of(domain, {{"noWild", "foo1"}}), -1);
  EXPECT_EQ(limit_of(domain, {{"noWild", "foo"}}), 20);
  EXPECT_EQ(limit_of(domain, {{"noVal", "anything"}}), 20);
  EXPECT_EQ(limit_of(domain, {{"midWild", "barb"}}), 20);
  EXPECT_EQ(limit_of(domain, {{"midWild", "barxyzb"}}), 20);
  EXPECT_EQ(limit_of(domain, {{"midWild", "barbx"}}), -1);
  EXPECT_EQ(limit_of(domain, {{"midWild", "bab"}}), -1);
  EXPECT_EQ(limit_of(domain, {{"multi", "svc-a-ep-b-rpc"}}), 20);
  EXPECT_EQ(limit_of(domain, {{"multi", "svcrpc"}}), -1);  // "ep" missing
  EXPECT_EQ(limit_of(domain, {{"multi", "svcXepYrpcZ"}}), -1);
  // Without share_threshold every value has its own counter.
  EXPECT_EQ(ask(domain, {{"wild", "foo1"}}).counter_key, "wild_foo1");
}

TEST(EnvoyMatch, ExactThenWildcardInFileOrderThenBareKey) {
  const Domain domain = parse(R"(
domain: d
descriptors:
  - {key: k, rate_limit: {unit: second, requests_per_unit: 1}}
  - {key: k, value: abc*, rate_limit: {unit: second, requests_per_unit: 2}}
  - {key: k, value: ab*, rate_limit: {unit: second, requests_per_unit: 3}}
  - {key: k, value: abcd, rate_limit: {unit: second, requests_per_unit: 4}}
)");
  EXPECT_EQ(limit_of(domain, {{"k", "abcd"}}), 4);  // exact first
  EXPECT_EQ(limit_of(domain, {{"k", "abcz"}}), 2);  // the first wildcard listed that matches
  EXPECT_EQ(limit_of(domain, {{"k", "abz"}}), 3);
  EXPECT_EQ(limit_of(domain, {{"k", "zzz"}}), 1);  // then the bare key
  EXPECT_EQ(limit_of(domain, {{"k", ""}}), 1);
  EXPECT_EQ(limit_of(domain, {{"other", "abcd"}}), -1);
}

TEST(EnvoyMatch, EmptyEntriesMatchNothing) {
  const Domain domain = parse(wildcard_config);
  EXPECT_EQ(match(domain, std::span<const Entry>{}).descriptor, nullptr);
  EXPECT_TRUE(match(domain, std::span<const Entry>{}).counter_key.empty());
}

TEST(EnvoyMatch, CounterKeysAreDistinct) {
  const Domain domain = parse(R"(
domain: d
descriptors:
  - {key: a_b, rate_limit: {unit: second, requests_per_unit: 1}}
  - {key: a, rate_limit: {unit: second, requests_per_unit: 1}}
  - key: x
    descriptors: [{key: y, rate_limit: {unit: second, requests_per_unit: 1}}]
  - {key: 'x_y', rate_limit: {unit: second, requests_per_unit: 1}}
  - {key: 'p\', rate_limit: {unit: second, requests_per_unit: 1}}
  - {key: p, rate_limit: {unit: second, requests_per_unit: 1}}
)");
  const Match one = ask(domain, {{"a_b", "c"}});
  const Match two = ask(domain, {{"a", "b_c"}});
  ASSERT_NE(one.descriptor, nullptr);
  ASSERT_NE(two.descriptor, nullptr);
  EXPECT_NE(one.counter_key, two.counter_key);
  EXPECT_EQ(one.counter_key, "a\\_b_c");
  EXPECT_EQ(two.counter_key, "a_b\\_c");

  // Two entries against one whose key holds their separator.
  const Match nested = ask(domain, {{"x", ""}, {"y", "z"}});
  const Match flat = ask(domain, {{"x_y", "_z"}});
  ASSERT_NE(nested.descriptor, nullptr);
  ASSERT_NE(flat.descriptor, nullptr);
  EXPECT_EQ(nested.counter_key, "x__y_z");
  EXPECT_NE(nested.counter_key, flat.counter_key);

  // The escape character itself.
  const Match slash = ask(domain, {{"p\\", "_q"}});
  const Match plain = ask(domain, {{"p", "\\_q"}});
  ASSERT_NE(slash.descriptor, nullptr);
  ASSERT_NE(plain.descriptor, nullptr);
  EXPECT_NE(slash.counter_key, plain.counter_key);
}

// Parts of upstream's test/config/share_threshold.yaml.
constexpr const char* share_config = R"(
domain: test-domain
descriptors:
  - key: files
    value: files/*
    share_threshold: true
    rate_limit: {unit: minute, requests_per_unit: 100}
  - key: user
    value: user/*
    share_threshold: true
    descriptors:
      - key: resource
        value: res/*
        share_threshold: true
        descriptors:
          - key: action
            rate_limit: {unit: minute, requests_per_unit: 150}
  - key: path
    value: path/*
    share_threshold: true
    descriptors:
      - key: file
        value: file/*
        share_threshold: false
        descriptors:
          - key: type
            rate_limit: {unit: minute, requests_per_unit: 120}
  - key: file
    value: test1
    rate_limit: {unit: minute, requests_per_unit: 50}
  - key: file
    value: test*
    share_threshold: true
    rate_limit: {unit: minute, requests_per_unit: 100}
  - key: midpath
    value: /api*v1
    share_threshold: true
    rate_limit: {unit: minute, requests_per_unit: 100}
)";

TEST(EnvoyMatch, ShareThresholdSharesOneCounterPerPattern) {
  const Domain domain = parse(share_config);
  const Match a = ask(domain, {{"files", "files/a.txt"}});
  const Match b = ask(domain, {{"files", "files/b.txt"}});
  ASSERT_NE(a.descriptor, nullptr);
  EXPECT_EQ(a.descriptor, b.descriptor);
  EXPECT_EQ(a.counter_key, "files_files/*");
  EXPECT_EQ(a.counter_key, b.counter_key);

  // Every level matched through a shared wildcard gives its pattern; the rest their values.
  const Match nested = ask(domain, {{"user", "user/1"}, {"resource", "res/9"}, {"action", "read"}});
  ASSERT_NE(nested.descriptor, nullptr);
  EXPECT_EQ(nested.descriptor->limits.at(0).requests_per_unit, 150);
  EXPECT_EQ(nested.counter_key, "user_user/*_resource_res/*_action_read");

  const Match mixed = ask(domain, {{"path", "path/x"}, {"file", "file/y"}, {"type", "t"}});
  ASSERT_NE(mixed.descriptor, nullptr);
  EXPECT_EQ(mixed.counter_key, "path_path/*_file_file/y_type_t");

  // An exact value wins over the shared wildcard, and counts apart.
  const Match exact = ask(domain, {{"file", "test1"}});
  ASSERT_NE(exact.descriptor, nullptr);
  EXPECT_EQ(exact.descriptor->limits.at(0).requests_per_unit, 50);
  EXPECT_EQ(exact.counter_key, "file_test1");
  EXPECT_EQ(ask(domain, {{"file", "test2"}}).counter_key, "file_test*");

  EXPECT_EQ(ask(domain, {{"midpath", "/api/users/v1"}}).counter_key, "midpath_/api*v1");
  EXPECT_EQ(ask(domain, {{"midpath", "/api/users/v2"}}).descriptor, nullptr);
}

}  // namespace
}  // namespace leaksnek::cli::envoy
