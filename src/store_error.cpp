#include <string>
#include <string_view>

#include <leaksnek/interfaces/storages/deciding_storage.hpp>

namespace leaksnek {

OnStoreError parse_on_store_error(std::string_view text) {
  if (text == "fail-open") return OnStoreError::fail_open;
  if (text == "fail-closed") return OnStoreError::fail_closed;
  if (text == "local") return OnStoreError::local;
  std::string message{"unknown store error policy \""};
  message.append(text).append("\" (expected fail-open, fail-closed or local)");
  throw Error{message};
}

std::string_view to_string(OnStoreError policy) {
  switch (policy) {
    case OnStoreError::fail_open:
      return "fail-open";
    case OnStoreError::fail_closed:
      return "fail-closed";
    case OnStoreError::local:
      return "local";
  }
  return "local";
}

}  // namespace leaksnek
