// CSV output for small labelled matrices (routing statistics, per-class losses), RFC 4180 quoting.
#pragma once
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace promoe::io {

// The CSV text of a (rows, cols) matrix: a header line `corner,col_labels...`, then one line per
// row `row_label,values...`. Empty label lists mean no header line / no label column. Integral
// values print exactly, others with 9 significant digits.
std::string matrix_csv(const Tensor& matrix, const std::vector<std::string>& row_labels,
                       const std::vector<std::string>& col_labels, const std::string& corner = "");

// Writes matrix_csv(...) to `path` atomically.
void write_csv(const std::string& path, const Tensor& matrix, const std::vector<std::string>& row_labels,
               const std::vector<std::string>& col_labels, const std::string& corner = "");

}  // namespace promoe::io
