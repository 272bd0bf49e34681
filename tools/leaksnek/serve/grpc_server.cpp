#include "serve/grpc_server.hpp"

#include <chrono>

#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include "arguments.hpp"
#include "envoy/service/ratelimit/v3/rls.grpc.pb.h"

namespace leaksnek::cli {

namespace {

class RateLimitService final : public rls::RateLimitService::CallbackService {
 public:
  explicit RateLimitService(EnvoyService& service) : service_{service} {}

  grpc::ServerUnaryReactor* ShouldRateLimit(grpc::CallbackServerContext* context, const rls::RateLimitRequest* request,
                                            rls::RateLimitResponse* response) override {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    try {
      if (auto problem = service_.malformed(*request, request->ByteSizeLong())) {
        reactor->Finish(grpc::Status{grpc::StatusCode::INVALID_ARGUMENT, *problem});
        return reactor;
      }
      service_.should_rate_limit(*request, *response, [reactor] { reactor->Finish(grpc::Status::OK); });
    } catch (const std::exception& error) {  // out of memory: this call fails, the server goes on
      reactor->Finish(grpc::Status{grpc::StatusCode::INTERNAL, error.what()});
    }
    return reactor;
  }

 private:
  EnvoyService& service_;
};

}  // namespace

struct GrpcServer::Impl {
  explicit Impl(EnvoyService& service) : rate_limit{service} {}
  RateLimitService rate_limit;
  std::unique_ptr<grpc::Server> server;
};

GrpcServer::GrpcServer(EnvoyService& service, const std::string& listen) : impl_{std::make_unique<Impl>(service)} {
  const std::size_t colon = listen.rfind(':');
  if (colon == std::string::npos) throw UsageError{"--grpc-listen: expected HOST:PORT, got '" + listen + "'"};
  std::string host = listen.substr(0, colon);
  const std::string port = listen.substr(colon + 1);
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
      std::stoi(port) > 65535) {
    throw UsageError{"--grpc-listen: bad port '" + port + "'"};
  }
  if (host.empty()) host = "[::]";
  int bound = 0;
  // grpc.health.v1.Health, as upstream serves it: SERVING while the server
  // runs, so that an Envoy cluster with a gRPC health check keeps us in.
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  builder.AddListeningPort(host + ":" + port, grpc::InsecureServerCredentials(), &bound);
  // Over EnvoyBounds::max_message is refused by the service with a message;
  // far over it, by gRPC before it is read.
  builder.SetMaxReceiveMessageSize(static_cast<int>(2 * EnvoyBounds::max_message));
  // What clients can make it hold: streams per connection, memory in all;
  // idle connections close; a second server on the port is refused, not
  // handed half the connections (gRPC sets SO_REUSEPORT by default).
  grpc::ResourceQuota quota{"leaksnek-grpc"};
  quota.Resize(std::size_t{512} << 20);
  builder.SetResourceQuota(quota);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, 256);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS, 10 * 60 * 1000);
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.RegisterService(&impl_->rate_limit);
  impl_->server = builder.BuildAndStart();
  if (!impl_->server || bound == 0) throw UsageError{"--grpc-listen: cannot listen on '" + listen + "'"};
  address_ = (host == "[::]" ? std::string{"0.0.0.0"} : host) + ":" + std::to_string(bound);
}

GrpcServer::~GrpcServer() { shutdown(std::chrono::milliseconds{0}); }

void GrpcServer::shutdown(std::chrono::milliseconds deadline) {
  if (!impl_->server) return;
  impl_->server->Shutdown(std::chrono::system_clock::now() + deadline);
  impl_->server->Wait();
  impl_->server.reset();
}

}  // namespace leaksnek::cli
