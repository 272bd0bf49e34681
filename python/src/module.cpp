// leaksnek._leaksnek: the C++ core for the Python package. The Python
// modules (python/leaksnek/) give it the seed's layout and keywords; this file
// only carries values across:
// - FastLimiter: a Limiter over a MemoryStorage, deciding in one step in C++;
// - Stepper: a policy's pure step on a state read from a storage written in
//   Python, which the Python limiters lock, read and write around;
// - parse_rate: rl()'s grammar, with the seed's error phrases;
// - ManualClock, Decision, Reservation.
// Keys: a str is its UTF-8 bytes; any other key is 0xFF (never in UTF-8), a
// type letter and its bytes, decimal digits or repr(), so keys of different
// types never collide. Values of a few more types are keyed by their
// content: an Enum member (class and name), a UUID (its bytes), a frozen
// dataclass (class and compared fields); any other object is refused, as its
// identity would be its address, which a later object reuses.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <leaksnek/algorithms/registry.hpp>
#include <leaksnek/leaksnek.hpp>
#include <leaksnek/storages/redis_storage.hpp>

namespace py = pybind11;

namespace leaksnek::python {

namespace {

using Key = std::string;

bool instance_of(py::handle object, const char* module, const char* type) {
  const int result = PyObject_IsInstance(object.ptr(), py::module_::import(module).attr(type).ptr());
  if (result < 0) throw py::error_already_set();
  return result == 1;
}

// Read on the type, not the object: an object's __getattr__ may answer anything.
bool frozen_dataclass(py::handle object) {
  const py::handle type = py::type::handle_of(object);
  if (PyType_Check(object.ptr()) || !py::hasattr(type, "__dataclass_params__")) return false;
  const py::object params = type.attr("__dataclass_params__");
  return py::bool_(params.attr("frozen")) && py::bool_(params.attr("eq"));
}

Key key_of(py::handle key);

void append_type_name(std::string& out, py::handle object) {
  const py::handle type = py::type::handle_of(object);
  const Key name = key_of(py::str(type.attr("__module__"))) + "." + key_of(py::str(type.attr("__qualname__")));
  out.append(std::to_string(name.size())).push_back(':');
  out.append(name);
}

// Keys nest (tuples, dataclasses): a deep or cyclic one ends in
// RecursionError, as Python's own recursion does, not in a crash.
class NestedKey {
 public:
  NestedKey() {
    if (Py_EnterRecursiveCall(" while making a rate limit key") != 0) throw py::error_already_set();
  }
  NestedKey(const NestedKey&) = delete;
  NestedKey& operator=(const NestedKey&) = delete;
  ~NestedKey() { Py_LeaveRecursiveCall(); }
};

Key key_of(py::handle key) {
  PyObject* object = key.ptr();
  if (PyUnicode_Check(object)) {
    Py_ssize_t size = 0;
    const char* data = PyUnicode_AsUTF8AndSize(object, &size);
    if (data != nullptr) return Key{data, static_cast<std::size_t>(size)};
    // A lone surrogate is no UTF-8: its str is still a key, apart from them all.
    PyErr_Clear();
    py::object bytes = py::reinterpret_steal<py::object>(PyUnicode_AsEncodedString(object, "utf-8", "surrogatepass"));
    if (!bytes) throw py::error_already_set();
    Key result{"\xffs"};
    result.append(PyBytes_AS_STRING(bytes.ptr()), static_cast<std::size_t>(PyBytes_GET_SIZE(bytes.ptr())));
    return result;
  }
  const NestedKey nested;
  if (PyObject_Hash(object) == -1) throw py::error_already_set();  // as a dict would refuse it
  // Keys equal as dict keys are one key (True and 1, 1.0 and 1); only values
  // whose identity is their content: an object's repr could name its
  // address, which a later object reuses.
  Key result{"\xff"};
  if (PyBytes_Check(object)) {
    result.push_back('b');
    result.append(PyBytes_AS_STRING(object), static_cast<std::size_t>(PyBytes_GET_SIZE(object)));
  } else if (PyLong_Check(object) || (PyFloat_Check(object) && std::isfinite(PyFloat_AS_DOUBLE(object)) &&
                                      PyFloat_AS_DOUBLE(object) == std::floor(PyFloat_AS_DOUBLE(object)))) {
    result.push_back('i');
    py::object integer = py::reinterpret_steal<py::object>(PyNumber_Long(object));  // True: 1, 2.0: 2
    if (!integer) throw py::error_already_set();
    result.append(py::str(integer).cast<std::string>());
  } else if (PyFloat_Check(object)) {
    result.push_back('f');
    result.append(py::repr(key).cast<std::string>());
  } else if (object == Py_None) {
    result.push_back('n');
  } else if (PyTuple_Check(object)) {
    result.push_back('t');
    for (py::handle item : py::reinterpret_borrow<py::tuple>(key)) {
      const Key part = key_of(item);
      result.append(std::to_string(part.size())).push_back(':');
      result.append(part);
    }
  } else if (PyFrozenSet_Check(object)) {
    // Equal sets iterate in different orders: the items' keys, sorted.
    std::vector<Key> parts;
    for (py::handle item : key) parts.push_back(key_of(item));
    std::sort(parts.begin(), parts.end());
    result.push_back('F');
    for (const Key& part : parts) result.append(std::to_string(part.size())).append(":").append(part);
  } else if (instance_of(key, "enum", "Enum")) {  // a member: its class and name (a Flag's without one: value)
    const py::object name = key.attr("name");
    result.push_back(name.is_none() ? 'v' : 'e');
    append_type_name(result, key);
    result.append(key_of(name.is_none() ? py::object{key.attr("_value_")} : name));
  } else if (instance_of(key, "uuid", "UUID")) {  // its 16 bytes: equal UUIDs, one key
    result.push_back('u');
    result.append(key.attr("bytes").cast<std::string>());
  } else if (frozen_dataclass(key)) {  // its class and the fields it compares, as a tuple
    result.push_back('d');
    append_type_name(result, key);
    py::list values;
    for (py::handle field : py::module_::import("dataclasses").attr("fields")(key)) {
      if (field.attr("compare").cast<bool>()) values.append(key.attr(field.attr("name")));
    }
    result.append(key_of(py::tuple(values)));
  } else {
    throw py::type_error(
        "a key is a str, bytes, int, float, None, an Enum member, a UUID, a frozen dataclass, or a tuple or "
        "frozenset of them, not " +
        py::str(py::type::handle_of(key).attr("__name__")).cast<std::string>() +
        " (an object without a value of its own would be keyed by its address, which a later object reuses)");
  }
  return result;
}

Instant instant_of(std::int64_t ns) { return Instant{Duration{ns}}; }

// An int argument as int64: a non-int is a TypeError, an int out of range a
// ValueError naming it (pybind's own conversion says only "incompatible
// function arguments").
std::int64_t int64_of(py::handle value, const char* name) {
  if (!PyLong_Check(value.ptr())) {
    throw py::type_error(std::string{name} + " must be an int, not " +
                         py::str(py::type::handle_of(value).attr("__name__")).cast<std::string>());
  }
  int overflow = 0;
  const long long result = PyLong_AsLongLongAndOverflow(value.ptr(), &overflow);
  if (overflow != 0) {
    throw py::value_error(std::string{name} + " " + py::str(value).cast<std::string>() +
                          " is out of range (a signed 64-bit integer)");
  }
  if (result == -1 && PyErr_Occurred() != nullptr) throw py::error_already_set();
  return result;
}

// A ManualClock shared by the limiters that read it.
using ManualClockPtr = std::shared_ptr<ManualClock>;

std::vector<RateLimit> limits_of(const std::vector<std::tuple<std::int64_t, std::int64_t, std::int64_t>>& limits) {
  std::vector<RateLimit> result;
  result.reserve(limits.size());
  for (const auto& [count, period, burst] : limits)
    result.push_back(RateLimit{count, Duration{period}}.with_burst(burst));
  return result;
}

ClockRef clock_of(const ManualClockPtr& clock) { return clock ? ClockRef{*clock} : ClockRef{}; }

// --- The fast path: a Limiter over a MemoryStorage.

class Fast {
 public:
  virtual ~Fast() = default;
  virtual Decision try_acquire(const Key& key, std::int64_t cost) = 0;
  virtual Decision try_acquire_at(const Key& key, std::int64_t cost, Instant at) = 0;
  virtual Reservation reserve(const Key& key, std::int64_t cost, Duration max_wait) = 0;
  virtual void cancel(const Key& key, const Reservation& reservation) = 0;
  virtual bool limit_exceeded(const Key& key) = 0;
  [[nodiscard]] virtual const std::string& name() const = 0;
  // Over a MemoryStorage: a key's state fields (the seed's read; nullopt when
  // none), and replacing them (its write; empty forgets the key).
  virtual std::optional<std::vector<std::int64_t>> stored_fields(const Key& key) const = 0;
  virtual void store_fields(const Key& key, std::vector<std::int64_t> fields) = 0;
};

template <Algorithm A>
class FastOf final : public Fast {
 public:
  FastOf(std::optional<std::string> name, std::vector<RateLimit> limits, std::shared_ptr<RateStorage<Key>> storage,
         ClockRef clock)
      : memory_{std::dynamic_pointer_cast<MemoryStorage<Key>>(storage)},
        core_{name ? *name : default_policy_name(A::name, limits), limits, clock},
        limiter_{core_.name(), std::move(limits), std::move(storage), nullptr, clock} {
    if (memory_) tables_ = core_.tables_in(*memory_);  // the limiter's own tables: same name, algorithm and tag
  }

  Decision try_acquire(const Key& key, std::int64_t cost) override { return limiter_.try_acquire(key, cost); }
  Decision try_acquire_at(const Key& key, std::int64_t cost, Instant at) override {
    return limiter_.try_acquire_at(key, cost, at);
  }
  Reservation reserve(const Key& key, std::int64_t cost, Duration max_wait) override {
    return limiter_.reserve(key, cost, max_wait);
  }
  void cancel(const Key& key, const Reservation& reservation) override { limiter_.cancel(key, reservation); }
  bool limit_exceeded(const Key& key) override { return limiter_.limit_exceeded(key); }
  [[nodiscard]] const std::string& name() const override { return limiter_.name(); }
  std::optional<std::vector<std::int64_t>> stored_fields(const Key& key) const override {
    if (!memory_) throw py::type_error("only a MemoryStorage's state is read by key here");
    std::optional<Rate> rate = core_.stored(tables_, key);
    if (!rate) return std::nullopt;
    return std::move(rate->fields);
  }
  void store_fields(const Key& key, std::vector<std::int64_t> fields) override {
    if (!memory_) throw py::type_error("only a MemoryStorage's state is written by key here");
    core_.store(tables_, key, Rate{std::move(fields)});
  }

 private:
  std::shared_ptr<MemoryStorage<Key>> memory_;  // when the storage is one
  DecisionCore<A, Key> core_;
  typename DecisionCore<A, Key>::Tables tables_;
  Limiter<A, Key> limiter_;
};

// What Python holds: the limiter, and the clock it reads (kept alive here).
// `blocking`: over Redis, a decision is a round trip, made with the GIL released.
struct FastLimiter {
  ManualClockPtr clock;
  std::unique_ptr<Fast> fast;
  bool blocking = false;
};

struct MemoryStorageBox {
  std::shared_ptr<MemoryStorage<Key>> storage;
};

struct RedisStorageBox {
  std::shared_ptr<RedisStorage<Key>> storage;
};

// Runs `call` with the GIL released when the limiter may block.
template <class Call>
auto maybe_released(const FastLimiter& self, Call&& call) {
  if (!self.blocking) return call();
  py::gil_scoped_release release;
  return call();
}

// --- A storage written in Python: the policy's pure steps on its state.

// One step's outcome as Python reads it: (decision, wait_ns, fields to write
// or None, expires_after_ns).
using StepResult = std::tuple<Decision, std::int64_t, std::optional<std::vector<std::int64_t>>, std::int64_t>;

class Stepper {
 public:
  virtual ~Stepper() = default;
  virtual StepResult step(const std::vector<std::int64_t>& fields, std::int64_t now, std::int64_t cost,
                          std::int64_t max_wait) const = 0;
  [[nodiscard]] virtual std::vector<std::int64_t> cancel(const std::vector<std::int64_t>& fields, std::int64_t until,
                                                         std::int64_t cost) const = 0;
  [[nodiscard]] virtual const std::string& name() const = 0;
};

template <Algorithm A>
class StepperOf final : public Stepper {
 public:
  StepperOf(std::optional<std::string> name, std::vector<RateLimit> limits)
      : core_{name ? std::move(*name) : default_policy_name(A::name, limits), std::move(limits), ClockRef{}} {}

  StepResult step(const std::vector<std::int64_t>& fields, std::int64_t now, std::int64_t cost,
                  std::int64_t max_wait) const override {
    detail::check_cost(cost);
    return core_.with_policy([&](const auto& policy) {
      auto state = state_of(policy, Rate{fields});
      auto step = DecisionCore<A, Key>::reserve_state(policy, state, instant_of(now), cost, Duration{max_wait});
      std::optional<std::vector<std::int64_t>> written;
      if (step.write) written = rate_of(policy, state).fields;
      return StepResult{step.reserved.decision, step.reserved.wait.count(), std::move(written),
                        step.expires_after.count()};
    });
  }
  [[nodiscard]] std::vector<std::int64_t> cancel(const std::vector<std::int64_t>& fields, std::int64_t until,
                                                 std::int64_t cost) const override {
    return core_.with_policy([&](const auto& policy) {
      auto state = state_of(policy, Rate{fields});
      Reservation reservation;
      reservation.cost = cost;
      reservation.until = instant_of(until);
      (void)DecisionCore<A, Key>::cancel_state(policy, state, reservation);
      return rate_of(policy, state).fields;
    });
  }
  [[nodiscard]] const std::string& name() const override { return core_.name(); }

 private:
  DecisionCore<A, Key> core_;
};

// --- rl(): our grammar, with the seed's phrases first.

// Where the seed's scan stops on `text` (its digits up to '/', then digits
// with at most one '.' after the first, then one of s, m, h, d; nothing
// after the unit is read): text.size() when the text ends first, npos when
// the scan reaches a unit (we refused the rate for another reason).
std::size_t seed_stop(std::string_view text) {
  std::size_t i = 0;
  for (; i < text.size() && text[i] != '/'; ++i) {
    if (!detail::is_digit(text[i])) return i;
  }
  if (i == text.size()) return i;
  const std::size_t start = ++i;
  bool dot = false;
  for (; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '.' && i > start && !dot) {
      dot = true;
    } else if (c == 's' || c == 'm' || c == 'h' || c == 'd') {
      return std::string_view::npos;
    } else if (!detail::is_digit(c)) {
      return i;
    }
  }
  return i;
}

std::string seed_phrase(std::string_view text, const detail::RateParse& parsed) {
  using detail::RateSyntax;
  std::size_t position = seed_stop(text);
  if (position == std::string_view::npos) {  // the seed would go on: our own position
    switch (parsed.syntax) {
      case RateSyntax::ok:
        return {};
      case RateSyntax::empty:
      case RateSyntax::missing_unit:
        position = text.size();
        break;
      case RateSyntax::missing_slash:
      case RateSyntax::bad_count:
        position = 0;
        while (position < text.size() && detail::is_digit(text[position])) ++position;
        break;
      default:
        position = static_cast<std::size_t>(parsed.token.data() - text.data());
        break;
    }
  }
  if (position >= text.size()) return "Unexpected end of rate limit string.";
  return "Unknown character at position " + std::to_string(position) + ":";
}

std::pair<std::int64_t, std::int64_t> parse_rate(std::string_view text) {
  detail::RateParse parsed = detail::parse_rate(text);
  if (parsed.syntax != detail::RateSyntax::ok) {
    std::string ours;
    try {
      (void)rl(text);
    } catch (const RateError& error) {
      ours = error.what();
    }
    throw py::value_error(seed_phrase(text, parsed) + " " + ours);
  }
  return {parsed.count, parsed.period.count()};
}

py::object seconds_of(Duration duration) {
  if (duration == Decision::never) return py::float_(std::numeric_limits<double>::infinity());
  return py::float_(static_cast<double>(duration.count()) / 1e9);
}

std::string decision_repr(const Decision& d) {
  return std::string{"Decision(allowed="} + (d.allowed ? "True" : "False") + ", limit=" + std::to_string(d.limit) +
         ", remaining=" + std::to_string(d.remaining) +
         ", retry_after_ns=" + (d.never_allowed() ? std::string{"never"} : std::to_string(d.retry_after.count())) +
         ", reset_after_ns=" + std::to_string(d.reset_after.count()) + ")";
}

}  // namespace

}  // namespace leaksnek::python

PYBIND11_MODULE(_leaksnek, m) {
  using namespace leaksnek;
  using namespace leaksnek::python;
  m.doc() = "leaksnek's C++ core; use the leaksnek.* modules, which give it the seed's API.";

  py::register_exception_translator([](std::exception_ptr error) {
    try {
      if (error) std::rethrow_exception(error);
    } catch (const RateError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const CostError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const StateError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const Error& e) {
      PyErr_SetString(PyExc_RuntimeError, e.what());
    }
  });

  py::class_<Decision>(m, "Decision", "The outcome of one decision (immutable).")
      .def_property_readonly("allowed", [](const Decision& d) { return d.allowed; })
      .def_property_readonly("limit", [](const Decision& d) { return d.limit; })
      .def_property_readonly("remaining", [](const Decision& d) { return d.remaining; })
      .def_property_readonly(
          "retry_after", [](const Decision& d) { return seconds_of(d.retry_after); },
          "Seconds until this request would be allowed (inf: never; 0 when allowed).")
      .def_property_readonly("retry_after_ns", [](const Decision& d) { return d.retry_after.count(); })
      .def_property_readonly("reset_after", [](const Decision& d) { return seconds_of(d.reset_after); })
      .def_property_readonly("reset_after_ns", [](const Decision& d) { return d.reset_after.count(); })
      .def_property_readonly("never_allowed", &Decision::never_allowed)
      .def(
          "__eq__", [](const Decision& a, const Decision& b) { return a == b; }, py::is_operator())
      .def("__repr__", &decision_repr);

  py::class_<Reservation>(m, "Reservation", "A request reserved by a limiter.")
      .def_property_readonly("decision", [](const Reservation& r) { return r.decision; })
      .def_property_readonly("wait_ns", [](const Reservation& r) { return r.wait.count(); })
      .def_property_readonly("until_ns", [](const Reservation& r) { return detail::nanos(r.until); });

  py::class_<ManualClock, ManualClockPtr>(m, "ManualClock")
      .def(py::init([](std::int64_t start) { return std::make_shared<ManualClock>(instant_of(start)); }),
           py::arg("start_ns") = 0)
      .def("now_ns", [](const ManualClock& c) { return detail::nanos(c.now()); })
      .def("advance_ns", [](ManualClock& c, std::int64_t by) { c.advance(Duration{by}); })
      .def("set_ns", [](ManualClock& c, std::int64_t to) { c.set(instant_of(to)); })
      .def(
          "sleep_until_ns", [](const ManualClock& c, std::int64_t until) { c.sleep_until(instant_of(until)); },
          py::call_guard<py::gil_scoped_release>())
      .def("sleepers", &ManualClock::sleepers);

  py::class_<MemoryStorageBox>(m, "MemoryStorage")
      .def(py::init([](std::size_t max_keys, std::size_t shards) {
             if (shards < 1 || shards > 65536) throw py::value_error("shards must be from 1 to 65536");
             MemoryStorage<Key>::Options options;
             options.max_keys = max_keys;
             options.shards = shards;
             return MemoryStorageBox{std::make_shared<MemoryStorage<Key>>(options)};
           }),
           py::arg("max_keys") = 0, py::arg("shards") = 64)
      .def("statistics", [](const MemoryStorageBox& box) {
        auto stats = box.storage->statistics();
        return py::dict(py::arg("keys") = stats.keys, py::arg("evicted") = stats.evicted,
                        py::arg("forgotten") = stats.forgotten);
      });

  py::class_<RedisStorageBox>(m, "RedisStorage")
      .def(py::init([](const std::string& url, const std::string& prefix, double timeout, const std::string& on_error) {
             redis::Options options;
             options.set_url(url);
             options.prefix = prefix;
             if (!(timeout > 0 && timeout <= 3600)) throw py::value_error("timeout must be from 0 to 3600 seconds");
             options.timeout = std::chrono::duration_cast<Duration>(std::chrono::duration<double>{timeout});
             options.on_error = parse_on_storage_error(on_error);
             return RedisStorageBox{std::make_shared<RedisStorage<Key>>(std::move(options))};
           }),
           py::arg("url"), py::arg("prefix") = "leaksnek:", py::arg("timeout") = 0.25, py::arg("on_error") = "local");

  py::class_<FastLimiter>(m, "FastLimiter")
      .def(py::init([](const std::string& algorithm,
                       const std::vector<std::tuple<std::int64_t, std::int64_t, std::int64_t>>& limits,
                       py::handle storage_object, std::optional<std::string> name, ManualClockPtr clock) {
             FastLimiter result;
             std::shared_ptr<RateStorage<Key>> storage;
             if (py::isinstance<MemoryStorageBox>(storage_object)) {
               storage = storage_object.cast<const MemoryStorageBox&>().storage;
             } else {
               storage = storage_object.cast<const RedisStorageBox&>().storage;
               result.blocking = true;
             }
             result.clock = std::move(clock);
             ClockRef ref = clock_of(result.clock);
             result.fast = with_algorithm(algorithm, [&]<Algorithm A>() -> std::unique_ptr<Fast> {
               return std::make_unique<FastOf<A>>(std::move(name), limits_of(limits), storage, ref);
             });
             return result;
           }),
           py::arg("algorithm"), py::arg("limits"), py::arg("storage"), py::arg("name") = py::none(),
           py::arg("clock") = py::none())
      .def(
          "limit_exceeded",
          [](FastLimiter& self, py::handle key) {
            Key k = key_of(key);
            return maybe_released(self, [&] { return self.fast->limit_exceeded(k); });
          },
          py::arg("key"))
      .def(
          "stored_fields",
          [](const FastLimiter& self, py::handle key) { return self.fast->stored_fields(key_of(key)); }, py::arg("key"),
          "Over a MemoryStorage: the key's state fields, or None when it has none.")
      .def(
          "store_fields",
          [](FastLimiter& self, py::handle key, std::vector<std::int64_t> fields) {
            self.fast->store_fields(key_of(key), std::move(fields));
          },
          py::arg("key"), py::arg("fields"), "Over a MemoryStorage: replaces the key's state ([] forgets it).")
      .def(
          "try_acquire",
          [](FastLimiter& self, py::handle key, py::handle cost_object) {
            Key k = key_of(key);
            const std::int64_t cost = int64_of(cost_object, "cost");
            return maybe_released(self, [&] { return self.fast->try_acquire(k, cost); });
          },
          py::arg("key"), py::arg("cost") = 1)
      .def(
          "try_acquire_at",
          [](FastLimiter& self, py::handle key, py::handle cost_object, py::handle at_object) {
            Key k = key_of(key);
            const std::int64_t cost = int64_of(cost_object, "cost");
            const std::int64_t at = int64_of(at_object, "at_ns");
            return maybe_released(self, [&] { return self.fast->try_acquire_at(k, cost, instant_of(at)); });
          },
          py::arg("key"), py::arg("cost"), py::arg("at_ns"))
      .def("reserve",
           [](FastLimiter& self, py::handle key, py::handle cost_object, py::handle max_wait_object) {
             Key k = key_of(key);
             const std::int64_t cost = int64_of(cost_object, "cost");
             const std::int64_t max_wait = int64_of(max_wait_object, "max_wait");
             return maybe_released(self, [&] { return self.fast->reserve(k, cost, Duration{max_wait}); });
           })
      .def("cancel",
           [](FastLimiter& self, py::handle key, const Reservation& reservation) {
             Key k = key_of(key);
             maybe_released(self, [&] {
               self.fast->cancel(k, reservation);
               return 0;
             });
           })
      .def_property_readonly("name", [](const FastLimiter& self) { return self.fast->name(); });

  py::class_<Stepper>(m, "Stepper")
      .def(py::init([](const std::string& algorithm,
                       const std::vector<std::tuple<std::int64_t, std::int64_t, std::int64_t>>& limits,
                       std::optional<std::string> name) {
             return with_algorithm(algorithm, [&]<Algorithm A>() -> std::unique_ptr<Stepper> {
               return std::make_unique<StepperOf<A>>(std::move(name), limits_of(limits));
             });
           }),
           py::arg("algorithm"), py::arg("limits"), py::arg("name") = py::none())
      .def(
          "step",
          [](const Stepper& self, const std::vector<std::int64_t>& fields, std::int64_t now, py::handle cost,
             py::handle max_wait) {
            return self.step(fields, now, int64_of(cost, "cost"), int64_of(max_wait, "max_wait"));
          },
          py::arg("fields"), py::arg("now_ns"), py::arg("cost"), py::arg("max_wait_ns"))
      .def(
          "cancel",
          [](const Stepper& self, const std::vector<std::int64_t>& fields, std::int64_t until, py::handle cost) {
            return self.cancel(fields, until, int64_of(cost, "cost"));
          },
          py::arg("fields"), py::arg("until_ns"), py::arg("cost"))
      .def_property_readonly("name", &Stepper::name);

  m.def("parse_rate", &parse_rate, py::arg("text"),
        "(count, period in ns) of a rate such as '10/m'; ValueError naming the problem.");
  m.def(
      "check_limit",
      [](py::handle count, py::handle period, py::handle burst) {
        (void)RateLimit{int64_of(count, "operations"), Duration{int64_of(period, "period (ns)")}}.with_burst(
            int64_of(burst, "burst"));
      },
      "Raises ValueError for a limit leaksnek refuses.");
  m.def("steady_now_ns", [] { return detail::nanos(SteadyClock{}.now()); });
  py::list names;
  for (std::string_view name : algorithm_names) names.append(py::str(std::string{name}));
  m.attr("ALGORITHMS") = names;
}
