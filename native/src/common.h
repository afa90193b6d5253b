// Errors that cross the N-API boundary carry a stable code (ElectraError in TypeScript).
#pragma once
#include <stdexcept>
#include <string>
#include <sstream>

namespace electra {

class Error : public std::runtime_error {
 public:
  Error(std::string code, const std::string& message) : std::runtime_error(message), code_(std::move(code)) {}
  const std::string& code() const { return code_; }

 private:
  std::string code_;
};

// Builds a message from stream pieces: fail("ERR_INPUT", "ids has ", n, " elements").
template <typename... Args>
[[noreturn]] inline void fail(const std::string& code, const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  throw Error(code, os.str());
}

template <typename... Args>
inline void check(bool cond, const std::string& code, const Args&... args) {
  if (!cond) fail(code, args...);
}

}  // namespace electra
