// Numeric option parsing and range text for ranged() (option_range.h).
#include "apps/option_range.h"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <sstream>

namespace promoe::apps::detail {

std::optional<long double> parse_integer(const std::string& text, bool is_signed) {
  const char* b = text.data();
  const char* e = b + text.size();
  if (b != e && *b == '+') ++b;
  if (is_signed) {
    long long v = 0;
    auto [p, ec] = std::from_chars(b, e, v);
    if (ec != std::errc() || p != e || b == e) return std::nullopt;
    return (long double)v;
  }
  if (b != e && *b == '-') return std::nullopt;
  unsigned long long v = 0;
  auto [p, ec] = std::from_chars(b, e, v);
  if (ec != std::errc() || p != e || b == e) return std::nullopt;
  return (long double)v;
}

std::optional<long double> parse_finite(const std::string& text) {
  if (text.empty()) return std::nullopt;
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (end != text.c_str() + text.size() || errno == ERANGE || !std::isfinite(v)) return std::nullopt;
  return (long double)v;
}

namespace {
// Whole numbers in full ("1000000000", not "1e+09"), others in the shortest usual form.
std::string number_text(long double v) {
  if (v == std::floor(v) && v >= -9.2e18L && v <= 18446744073709551615.0L) {
    if (v < 0) return std::to_string((long long)v);
    return std::to_string((unsigned long long)v);
  }
  std::ostringstream os;
  os << v;
  return os.str();
}
}  // namespace

std::string range_text(long double lo, long double hi, std::optional<long double> special) {
  std::string s = "[" + number_text(lo) + ", " + number_text(hi) + "]";
  if (special) s += " or " + number_text(*special);
  return s;
}

}  // namespace promoe::apps::detail
