// CSV formatting of labelled matrices.
#include "io/csv.h"

#include <cmath>
#include <cstdio>

#include "io/atomic_file.h"

namespace promoe::io {

namespace {

// Quotes a field when it holds a comma, quote or line break, doubling inner quotes.
std::string field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) {
    if (c == '"') q += '"';
    q += c;
  }
  return q + "\"";
}

std::string number(double x) {
  char buf[40];
  if (std::isfinite(x) && x == std::floor(x) && std::fabs(x) < 1e15)
    std::snprintf(buf, sizeof buf, "%.0f", x);
  else
    std::snprintf(buf, sizeof buf, "%.9g", x);
  return buf;
}

}  // namespace

std::string matrix_csv(const Tensor& matrix, const std::vector<std::string>& row_labels,
                       const std::vector<std::string>& col_labels, const std::string& corner) {
  PROMOE_CHECK(matrix.defined() && matrix.dim() == 2, "matrix_csv: expected a 2-D matrix, got ", describe(matrix));
  const int64_t R = matrix.size(0), C = matrix.size(1);
  PROMOE_CHECK(row_labels.empty() || int64_t(row_labels.size()) == R, "matrix_csv: ", row_labels.size(),
               " row labels for ", R, " rows");
  PROMOE_CHECK(col_labels.empty() || int64_t(col_labels.size()) == C, "matrix_csv: ", col_labels.size(),
               " column labels for ", C, " columns");
  std::vector<double> v = matrix.to_vector<double>();
  std::string out;
  if (!col_labels.empty()) {
    if (!row_labels.empty()) out += field(corner) + ",";
    for (int64_t c = 0; c < C; ++c) {
      if (c) out += ',';
      out += field(col_labels[size_t(c)]);
    }
    out += "\n";
  }
  for (int64_t r = 0; r < R; ++r) {
    if (!row_labels.empty()) out += field(row_labels[size_t(r)]);
    for (int64_t c = 0; c < C; ++c) {
      if (c || !row_labels.empty()) out += ',';
      out += number(v[size_t(r * C + c)]);
    }
    out += "\n";
  }
  return out;
}

void write_csv(const std::string& path, const Tensor& matrix, const std::vector<std::string>& row_labels,
               const std::vector<std::string>& col_labels, const std::string& corner) {
  write_file_atomic(path, matrix_csv(matrix, row_labels, col_labels, corner));
}

}  // namespace promoe::io
