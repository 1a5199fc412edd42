// Error reporting: every misuse of the runtime throws promoe::Error with a message that names the
// operation and the offending shapes, dtypes or values.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace promoe {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

namespace detail {
template <typename... Args>
std::string concat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}
}  // namespace detail

}  // namespace promoe

// PROMOE_CHECK(cond, "op: ", a, " vs ", b) throws promoe::Error with the pieces concatenated.
#define PROMOE_CHECK(cond, ...)                                                \
  do {                                                                         \
    if (!(cond)) throw ::promoe::Error(::promoe::detail::concat(__VA_ARGS__)); \
  } while (0)

#define PROMOE_FAIL(...) throw ::promoe::Error(::promoe::detail::concat(__VA_ARGS__))
