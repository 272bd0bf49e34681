#include <string>
#include <string_view>

#include <leaksnek/interfaces/storages/deciding_storage.hpp>

namespace leaksnek {

OnStorageError parse_on_storage_error(std::string_view text) {
  if (text == "fail-open") return OnStorageError::fail_open;
  if (text == "fail-closed") return OnStorageError::fail_closed;
  if (text == "local") return OnStorageError::local;
  std::string message{"unknown storage error policy \""};
  message.append(text).append("\" (expected fail-open, fail-closed or local)");
  throw Error{message};
}

std::string_view to_string(OnStorageError policy) {
  switch (policy) {
    case OnStorageError::fail_open:
      return "fail-open";
    case OnStorageError::fail_closed:
      return "fail-closed";
    case OnStorageError::local:
      return "local";
  }
  return "local";
}

}  // namespace leaksnek
