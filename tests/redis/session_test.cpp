// The Redis session with no server: the handshake, NOSCRIPT recovery,
// fail-fast and the wording of failures, with an error injected at each step.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <leaksnek/redis/session.hpp>

namespace leaksnek::redis {
namespace {

using namespace std::chrono_literals;

Reply status(std::string text = "OK") { return {Reply::Type::status, std::move(text), 0, {}}; }
Reply error(std::string text) { return {Reply::Type::error, std::move(text), 0, {}}; }
Reply integer(long long value) { return {Reply::Type::integer, {}, value, {}}; }

Endpoint endpoint(std::string user, std::string password, int db) {
  Endpoint e;
  e.user = std::move(user);
  e.password = std::move(password);
  e.db = db;
  return e;
}

TEST(RedisHandshake, NoPasswordAndDatabaseZeroSendNothing) {
  Handshake handshake{endpoint("", "", 0)};
  EXPECT_TRUE(handshake.commands().empty());
  EXPECT_TRUE(handshake.ready());
}

TEST(RedisHandshake, AuthThenSelectInThatOrder) {
  Handshake handshake{endpoint("alice", "s3cret", 3)};
  ASSERT_EQ(handshake.commands().size(), 2U);
  EXPECT_EQ(handshake.commands()[0], (Command{"AUTH", "alice", "s3cret"}));
  EXPECT_EQ(handshake.commands()[1], (Command{"SELECT", "3"}));
  EXPECT_FALSE(handshake.ready());
  EXPECT_EQ(handshake.answer(status()), std::nullopt);
  EXPECT_FALSE(handshake.ready()) << "SELECT is not answered yet";
  EXPECT_EQ(handshake.answer(status()), std::nullopt);
  EXPECT_TRUE(handshake.ready());
}

TEST(RedisHandshake, PasswordWithoutUserIsTheLegacyAuth) {
  Handshake handshake{endpoint("", "pw", 0)};
  ASSERT_EQ(handshake.commands().size(), 1U);
  EXPECT_EQ(handshake.commands()[0], (Command{"AUTH", "pw"}));
}

TEST(RedisHandshake, RefusedAuthFailsTheConnectionAndNeverBecomesReady) {
  Handshake handshake{endpoint("", "wrong", 2)};
  auto refused = handshake.answer(error("WRONGPASS invalid username-password pair"));
  ASSERT_TRUE(refused);
  EXPECT_EQ(*refused, "refused AUTH: WRONGPASS invalid username-password pair");
  EXPECT_FALSE(handshake.ready());
  // The pipelined SELECT's reply (even an OK) cannot make it ready.
  EXPECT_TRUE(handshake.answer(status()));
  EXPECT_FALSE(handshake.ready());
}

TEST(RedisHandshake, RefusedSelectFailsTheConnection) {
  Handshake handshake{endpoint("", "pw", 99)};
  EXPECT_EQ(handshake.answer(status()), std::nullopt);
  auto refused = handshake.answer(error("ERR DB index is out of range"));
  ASSERT_TRUE(refused);
  EXPECT_EQ(*refused, "refused SELECT: ERR DB index is out of range");
  EXPECT_FALSE(handshake.ready());
}

TEST(RedisHandshake, LostConnectionNamesTheStep) {
  Handshake handshake{endpoint("", "pw", 1)};
  EXPECT_EQ(handshake.lost("reset by peer"), "lost the connection during AUTH: reset by peer");
  EXPECT_EQ(handshake.answer(status()), std::nullopt);
  EXPECT_EQ(handshake.lost("reset by peer"), "lost the connection during SELECT: reset by peer");
}

TEST(RedisHandshake, AReplyBeyondTheHandshakeIsAFailure) {
  Handshake handshake{endpoint("", "", 1)};
  EXPECT_EQ(handshake.answer(status()), std::nullopt);
  EXPECT_TRUE(handshake.answer(status()));
}

const Script script{"return 1"};

TEST(RedisScriptCall, FirstCommandIsEvalshaWithKeysThenArgs) {
  ScriptCall call{script, {"k1", "k2"}, {"a"}};
  EXPECT_EQ(call.commands(), (std::vector<Command>{{"EVALSHA", script.sha1(), "2", "k1", "k2", "a"}}));
  EXPECT_FALSE(call.done());
}

TEST(RedisScriptCall, AReplyEndsTheCall) {
  ScriptCall call{script, {"k"}, {}};
  EXPECT_TRUE(call.answer(integer(7)).empty());
  ASSERT_TRUE(call.done());
  EXPECT_FALSE(call.failure());
  EXPECT_EQ(call.reply().integer, 7);
  EXPECT_FALSE(call.loaded());
}

TEST(RedisScriptCall, NoscriptLoadsAndRetriesOnce) {
  ScriptCall call{script, {"k"}, {"a"}};
  auto next = call.answer(error("NOSCRIPT No matching script. Please use EVAL."));
  ASSERT_EQ(next.size(), 2U);
  EXPECT_EQ(next[0], (Command{"SCRIPT", "LOAD", "return 1"}));
  EXPECT_EQ(next[1], call.commands().front());
  EXPECT_TRUE(call.loaded());
  EXPECT_FALSE(call.done());
  EXPECT_TRUE(call.answer(Reply{Reply::Type::string, script.sha1(), 0, {}}).empty());
  EXPECT_FALSE(call.done());
  EXPECT_TRUE(call.answer(integer(1)).empty());
  ASSERT_TRUE(call.done());
  EXPECT_FALSE(call.failure());
  EXPECT_EQ(call.reply().integer, 1);
}

TEST(RedisScriptCall, ASecondNoscriptIsAFailureNotALoop) {
  ScriptCall call{script, {"k"}, {}};
  ASSERT_EQ(call.answer(error("NOSCRIPT")).size(), 2U);
  EXPECT_TRUE(call.answer(status()).empty());
  EXPECT_TRUE(call.answer(error("NOSCRIPT again")).empty());
  ASSERT_TRUE(call.done());
  ASSERT_TRUE(call.failure());
  EXPECT_EQ(*call.failure(), "failed the script: NOSCRIPT again");
}

TEST(RedisScriptCall, AFailedLoadEndsTheCallAndIgnoresTheRetrysReply) {
  ScriptCall call{script, {"k"}, {}};
  ASSERT_EQ(call.answer(error("NOSCRIPT")).size(), 2U);
  EXPECT_TRUE(call.answer(error("ERR Error compiling script")).empty());
  ASSERT_TRUE(call.done());
  ASSERT_TRUE(call.failure());
  EXPECT_EQ(*call.failure(), "cannot load the script: ERR Error compiling script");
  EXPECT_TRUE(call.answer(error("NOSCRIPT")).empty());  // the pipelined retry
  EXPECT_EQ(*call.failure(), "cannot load the script: ERR Error compiling script");
}

TEST(RedisScriptCall, AnErrorReplyOfTheScriptIsAFailure) {
  ScriptCall call{script, {"k"}, {}};
  EXPECT_TRUE(call.answer(error("ERR user_script:1: bad")).empty());
  ASSERT_TRUE(call.done());
  ASSERT_TRUE(call.failure());
  EXPECT_EQ(*call.failure(), "failed the script: ERR user_script:1: bad");
  EXPECT_FALSE(call.loaded());
}

// A script with an entry line is also a Functions library.
const Script library_script{"local function f(KEYS, ARGV) return 1 end\nreturn f(KEYS, ARGV)\n"};

TEST(RedisScript, AnEntryLineMakesALibraryNamedByTheHash) {
  EXPECT_TRUE(script.library().empty());
  EXPECT_EQ(library_script.function(), "leaksnek_" + library_script.sha1().substr(0, 20));
  EXPECT_EQ(library_script.library(), "#!lua name=" + library_script.function() +
                                          "\nlocal function f(KEYS, ARGV) return 1 end\n"
                                          "redis.register_function('" +
                                          library_script.function() +
                                          "', function(keys, args) return f(keys, args) end)\n");
}

TEST(RedisScriptCall, WithALibraryTheCallIsFcall) {
  ScriptCall call{library_script, {"k"}, {"a"}};
  EXPECT_EQ(call.commands(), (std::vector<Command>{{"FCALL", library_script.function(), "1", "k", "a"}}));
  ScriptCall without{library_script, {"k"}, {"a"}, false};
  EXPECT_EQ(without.commands().front().front(), "EVALSHA");
}

TEST(RedisScriptCall, FunctionNotFoundLoadsTheLibraryAndRetriesOnce) {
  ScriptCall call{library_script, {"k"}, {}};
  auto next = call.answer(error("ERR Function not found"));
  ASSERT_EQ(next.size(), 2U);
  EXPECT_EQ(next[0], (Command{"FUNCTION", "LOAD", library_script.library()}));
  EXPECT_EQ(next[1], call.commands().front());
  // Another client loaded it first: the retry still runs.
  EXPECT_TRUE(call.answer(error("ERR Library '" + library_script.function() + "' already exists")).empty());
  EXPECT_FALSE(call.done());
  EXPECT_TRUE(call.answer(integer(3)).empty());
  ASSERT_TRUE(call.done());
  EXPECT_FALSE(call.failure());
  EXPECT_TRUE(call.loaded());
  EXPECT_EQ(call.reply().integer, 3);
}

TEST(RedisScriptCall, AServerWithoutFcallIsAnsweredWithEvalsha) {
  ScriptCall call{library_script, {"k"}, {}};
  auto next = call.answer(error("ERR unknown command 'FCALL', with args beginning with: "));
  ASSERT_EQ(next.size(), 1U);
  EXPECT_EQ(next[0].front(), "EVALSHA");
  EXPECT_TRUE(call.functions_unsupported());
  next = call.answer(error("NOSCRIPT No matching script."));
  ASSERT_EQ(next.size(), 2U);
  EXPECT_EQ(next[0], (Command{"SCRIPT", "LOAD", library_script.text()}));
  EXPECT_TRUE(call.answer(status()).empty());
  EXPECT_TRUE(call.answer(integer(1)).empty());
  EXPECT_TRUE(call.done());
  EXPECT_FALSE(call.failure());
}

TEST(RedisScriptCall, AskingPrecedesEveryAttempt) {
  ScriptCall call{library_script, {"k"}, {}, true, true};
  auto first = call.commands();
  ASSERT_EQ(first.size(), 2U);
  EXPECT_EQ(first[0], (Command{"ASKING"}));
  EXPECT_TRUE(call.answer(status()).empty());
  auto next = call.answer(error("ERR Function not found"));
  ASSERT_EQ(next.size(), 3U);
  EXPECT_EQ(next[0][0], "FUNCTION");
  EXPECT_EQ(next[1], (Command{"ASKING"}));
  EXPECT_EQ(next[2][0], "FCALL");
  EXPECT_TRUE(call.answer(status()).empty());
  EXPECT_TRUE(call.answer(status()).empty());
  EXPECT_TRUE(call.answer(integer(5)).empty());
  ASSERT_TRUE(call.done());
  EXPECT_EQ(call.reply().integer, 5);
}

TEST(RedisScriptCall, ARedirectionEndsTheCallWithoutAFailure) {
  ScriptCall call{library_script, {"k"}, {}};
  EXPECT_TRUE(call.answer(error("MOVED 3999 127.0.0.1:6381")).empty());
  ASSERT_TRUE(call.done());
  EXPECT_FALSE(call.failure());
  ASSERT_TRUE(call.redirected());
  EXPECT_EQ(call.redirected()->kind, Redirection::Kind::moved);
  EXPECT_EQ(call.redirected()->slot, 3999);
  EXPECT_EQ(call.redirected()->host, "127.0.0.1");
  EXPECT_EQ(call.redirected()->port, 6381);
}

TEST(RedisRedirection, ParsesEveryKindAndRejectsTheRest) {
  auto ask = redirection(error("ASK 12182 [::1]:7002"));
  ASSERT_TRUE(ask);
  EXPECT_EQ(ask->kind, Redirection::Kind::ask);
  EXPECT_EQ(ask->host, "::1");
  EXPECT_EQ(ask->port, 7002);
  auto unknown_endpoint = redirection(error("MOVED 1 :7003"));
  ASSERT_TRUE(unknown_endpoint);
  EXPECT_EQ(unknown_endpoint->host, "");
  EXPECT_EQ(redirection(error("TRYAGAIN Multiple keys request during rehashing of slot"))->kind,
            Redirection::Kind::try_again);
  EXPECT_EQ(redirection(error("CLUSTERDOWN The cluster is down"))->kind, Redirection::Kind::cluster_down);
  EXPECT_FALSE(redirection(error("MOVED 16384 h:1")));  // no such slot
  EXPECT_FALSE(redirection(error("MOVED x h:1")));
  EXPECT_FALSE(redirection(error("MOVED 1 h:0")));
  EXPECT_FALSE(redirection(error("ERR MOVED 1 h:1")));
  EXPECT_FALSE(redirection(status("MOVED 1 h:1")));
}

Options options_with(Duration retry_interval) {
  Options options;
  options.endpoint.host = "redis.example";
  options.endpoint.port = 6380;
  options.retry_interval = retry_interval;
  options.timeout = 250ms;
  return options;
}

TEST(RedisSession, UpUntilAFailureThenDownForTheRetryInterval) {
  Session session{options_with(100ms)};
  const std::int64_t t0 = 1'000'000'000;
  EXPECT_FALSE(session.down(t0));
  EXPECT_EQ(session.retry_in(t0), Duration{0});
  EXPECT_EQ(session.last_failure(), "");
  EXPECT_EQ(session.unreachable("cannot connect: Connection refused", t0),
            "Redis at redis.example:6380: cannot connect: Connection refused");
  EXPECT_TRUE(session.down(t0));
  EXPECT_TRUE(session.down(t0 + 99'999'999));
  EXPECT_EQ(session.retry_in(t0 + 40'000'000), Duration{60ms});
  EXPECT_FALSE(session.down(t0 + 100'000'000)) << "the next call after the interval tries again";
  EXPECT_EQ(session.fail_fast_message(),
            "Redis at redis.example:6380 is unreachable (cannot connect: Connection refused); retrying shortly");
  EXPECT_EQ(session.last_failure(), "Redis at redis.example:6380: cannot connect: Connection refused");
  EXPECT_EQ(session.statistics().failures, 1U);
}

TEST(RedisSession, ARefusedCallIsRememberedButRedisStaysUp) {
  Session session{options_with(1h)};
  EXPECT_EQ(session.refused("failed the script: ERR oops"), "Redis at redis.example:6380: failed the script: ERR oops");
  EXPECT_FALSE(session.down(0));
  EXPECT_EQ(session.statistics().failures, 0U);
  EXPECT_EQ(session.last_failure(), "Redis at redis.example:6380: failed the script: ERR oops");
}

TEST(RedisSession, ARefusedHandshakeMakesRedisDown) {
  Session session{options_with(1h)};
  Options o = options_with(1h);
  o.endpoint.db = 99;
  Handshake handshake{o.endpoint};
  auto why = handshake.answer(error("ERR DB index is out of range"));
  ASSERT_TRUE(why);
  session.unreachable(*why, 0);
  EXPECT_TRUE(session.down(1));
  EXPECT_NE(session.fail_fast_message().find("refused SELECT"), std::string::npos);
}

TEST(RedisSession, CountsAndTimeoutWording) {
  Session session{options_with(1s)};
  session.count(Session::Counter::call);
  session.count(Session::Counter::call);
  session.count(Session::Counter::connect);
  session.count(Session::Counter::script_load);
  session.count(OnStorageError::fail_open);
  session.count(OnStorageError::fail_closed);
  session.count(OnStorageError::local);
  session.count(OnStorageError::local);
  Statistics s = session.statistics();
  EXPECT_EQ(s.calls, 2U);
  EXPECT_EQ(s.connects, 1U);
  EXPECT_EQ(s.script_loads, 1U);
  EXPECT_EQ(s.failed_open, 1U);
  EXPECT_EQ(s.failed_closed, 1U);
  EXPECT_EQ(s.fell_back, 2U);
  EXPECT_EQ(session.timed_out(), "timed out after 250 ms");
}

}  // namespace
}  // namespace leaksnek::redis
