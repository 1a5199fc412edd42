// Ranges for numeric command-line options. Every numeric option of every subcommand goes through
// ranged(): the value must parse completely as the option's type (no silent clamping of
// 99999999999999999999, no NaN or infinity) and lie in [lo, hi], or in a listed special value
// (e.g. -1 for "all"). The error is CLI11's one line naming the option:
//   --threads: 100000 is outside the accepted range [0, 8]
#pragma once
#include <CLI/CLI.hpp>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <type_traits>

namespace promoe::apps {

// Upper bounds shared by the subcommands' options: far beyond any real run, small enough that a
// typo cannot start a job of years or an allocation of the whole machine.
inline constexpr int64_t kMaxSteps = 1'000'000'000;
inline constexpr int64_t kMaxBatch = 65'536;
inline constexpr int64_t kMaxExamples = 1'000'000'000;
inline constexpr int64_t kMaxPerClass = 1'024;
inline constexpr int64_t kMaxSamples = int64_t(1) << 24;  // sample --num, an evaluation set
inline constexpr int64_t kMaxSamplerSteps = 10'000;
inline constexpr double kMaxCfg = 100.0;

namespace detail {
// Parses `text` completely as an integer or a finite double; nullopt otherwise.
std::optional<long double> parse_integer(const std::string& text, bool is_signed);
std::optional<long double> parse_finite(const std::string& text);
std::string range_text(long double lo, long double hi, std::optional<long double> special);
}  // namespace detail

// Adds the range check to `opt` (whose variable is of type T) and shows the range in --help.
template <typename T>
CLI::Option* ranged(CLI::Option* opt, T lo, T hi, std::optional<T> special = std::nullopt) {
  static_assert(std::is_arithmetic_v<T>, "ranged() is for numeric options");
  const std::optional<long double> sp = special ? std::optional<long double>(*special) : std::nullopt;
  const std::string accepted = detail::range_text(lo, hi, sp);
  opt->check(CLI::Validator(
      [lo, hi, sp, accepted](std::string& text) -> std::string {
        const std::optional<long double> v =
            std::is_integral_v<T> ? detail::parse_integer(text, std::is_signed_v<T>) : detail::parse_finite(text);
        if (!v)
          return "'" + text + "' is not " + (std::is_integral_v<T> ? "an integer" : "a finite number") +
                 " in the accepted range " + accepted;
        if ((sp && *v == *sp) || (*v >= (long double)lo && *v <= (long double)hi)) return {};
        return text + " is outside the accepted range " + accepted;
      },
      accepted, "range"));
  return opt;
}

}  // namespace promoe::apps
