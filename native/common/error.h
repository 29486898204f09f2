// One error type for the whole native core. `code` is stable and surfaces in JS as err.code.
#pragma once
#include <stdexcept>
#include <string>
#include <utility>

namespace crossrank {

class Error : public std::runtime_error {
 public:
  Error(std::string code, const std::string& message)
      : std::runtime_error(message), code_(std::move(code)) {}
  const std::string& code() const noexcept { return code_; }

 private:
  std::string code_;
};

}  // namespace crossrank
