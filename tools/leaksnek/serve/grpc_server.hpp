// The gRPC face of EnvoyService: envoy.service.ratelimit.v3.RateLimitService
// on its own port, beside the HTTP one, with gRPC's own threads (callback
// API: a decision in memory is answered on the thread that read it; one on
// Redis when Redis answers, no thread waiting).
#pragma once

#include <memory>
#include <string>

#include "serve/envoy_service.hpp"

namespace leaksnek::cli {

class GrpcServer {
 public:
  // Listens on `listen` (HOST:PORT; an empty host: every interface; port 0:
  // one chosen). Throws UsageError when it cannot.
  GrpcServer(EnvoyService& service, const std::string& listen);
  ~GrpcServer();
  GrpcServer(const GrpcServer&) = delete;
  GrpcServer& operator=(const GrpcServer&) = delete;

  // "HOST:PORT" as bound (the port chosen when 0).
  [[nodiscard]] const std::string& address() const noexcept { return address_; }
  // Stops taking calls and waits at most `deadline` for those under way.
  void shutdown(std::chrono::milliseconds deadline);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string address_;
};

}  // namespace leaksnek::cli
