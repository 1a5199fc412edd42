// Fréchet distance, KID and k-NN precision/recall.
#include "eval/metrics.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "eval/image_set.h"
#include "tensor/error.h"

namespace promoe::eval {

namespace {

// Rows of x picked by idx.
FeatureMatrix rows(const FeatureMatrix& x, const std::vector<int64_t>& idx) {
  FeatureMatrix out(int64_t(idx.size()), x.cols());
  for (size_t i = 0; i < idx.size(); ++i) out.row(int64_t(i)) = x.row(idx[i]);
  return out;
}

// Squared distances between the rows of a and b: |a|^2 + |b|^2 - 2 a.b, floored at 0.
Eigen::MatrixXd squared_distances(const FeatureMatrix& a, const FeatureMatrix& b) {
  Eigen::MatrixXd d = -2.0 * (a * b.transpose());
  d.colwise() += a.rowwise().squaredNorm();
  d.rowwise() += b.rowwise().squaredNorm().transpose();
  return d.cwiseMax(0.0);
}

// Share of the rows of `query` within radius[j] of some row j of `centres`, in blocks of rows.
double coverage(const FeatureMatrix& query, const FeatureMatrix& centres, const Eigen::VectorXd& radius) {
  const Eigen::RowVectorXd r2 = radius.array().square().matrix().transpose();
  int64_t inside = 0;
  for (int64_t at = 0; at < query.rows(); at += 512) {
    const int64_t n = std::min<int64_t>(512, query.rows() - at);
    const Eigen::MatrixXd d = squared_distances(query.middleRows(at, n), centres);
    for (int64_t i = 0; i < n; ++i) inside += ((d.row(i).array() <= r2.array()).any()) ? 1 : 0;
  }
  return double(inside) / double(query.rows());
}

}  // namespace

Gaussian fit_gaussian(const FeatureMatrix& x) {
  PROMOE_CHECK(x.rows() >= 2, "fit_gaussian: need at least 2 feature rows, got ", x.rows());
  Gaussian g;
  g.mean = x.colwise().mean().transpose();
  const FeatureMatrix centred = x.rowwise() - g.mean.transpose();
  g.cov = (centred.transpose() * centred) / double(x.rows() - 1);
  return g;
}

double frechet_distance(const Gaussian& a, const Gaussian& b) {
  PROMOE_CHECK(a.mean.size() == b.mean.size(), "frechet_distance: dims differ (", a.mean.size(), " vs ", b.mean.size(),
               ")");
  // tr((A^1/2 B A^1/2)^1/2) from the eigenvalues of the symmetric PSD product; eigenvalues below 0
  // are rounding noise of singular covariances and count as 0.
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> ea(a.cov);
  const Eigen::VectorXd sa = ea.eigenvalues().cwiseMax(0.0).cwiseSqrt();
  const Eigen::MatrixXd a_half = ea.eigenvectors() * sa.asDiagonal() * ea.eigenvectors().transpose();
  Eigen::MatrixXd m = a_half * b.cov * a_half;
  m = 0.5 * (m + m.transpose());
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> em(m, Eigen::EigenvaluesOnly);
  const double tr_sqrt = em.eigenvalues().cwiseMax(0.0).cwiseSqrt().sum();
  return (a.mean - b.mean).squaredNorm() + a.cov.trace() + b.cov.trace() - 2.0 * tr_sqrt;
}

double kid_mmd2(const FeatureMatrix& a, const FeatureMatrix& b) {
  PROMOE_CHECK(a.rows() >= 2 && b.rows() >= 2 && a.cols() == b.cols(), "kid: need two sets of >= 2 rows of one width");
  const double d = double(a.cols());
  auto kernel = [d](const FeatureMatrix& x, const FeatureMatrix& y) {
    return ((x * y.transpose()).array() / d + 1.0).cube().matrix().eval();
  };
  const double m = double(a.rows()), n = double(b.rows());
  const Eigen::MatrixXd kaa = kernel(a, a), kbb = kernel(b, b), kab = kernel(a, b);
  // Unbiased: the diagonals of the within-set sums are left out.
  return (kaa.sum() - kaa.trace()) / (m * (m - 1)) + (kbb.sum() - kbb.trace()) / (n * (n - 1)) -
         2.0 * kab.sum() / (m * n);
}

Kid kernel_inception_distance(const FeatureMatrix& a, const FeatureMatrix& b, int64_t subsets, int64_t subset_size,
                              uint64_t seed) {
  PROMOE_CHECK(subsets >= 1 && subset_size >= 2, "kid: need >= 1 subset of >= 2 rows");
  const int64_t ma = std::min<int64_t>(subset_size, a.rows()), mb = std::min<int64_t>(subset_size, b.rows());
  std::vector<double> values;
  for (int64_t s = 0; s < subsets; ++s) {
    const uint64_t draw = seed * 1000003 + uint64_t(s) * 2;
    values.push_back(
        kid_mmd2(rows(a, sample_indices(a.rows(), ma, draw)), rows(b, sample_indices(b.rows(), mb, draw + 1))));
  }
  Kid k;
  for (double v : values) k.mean += v / double(values.size());
  for (double v : values) k.std += (v - k.mean) * (v - k.mean) / double(values.size());
  k.std = std::sqrt(k.std);
  return k;
}

Eigen::VectorXd kth_neighbour_distance(const FeatureMatrix& x, int64_t k) {
  PROMOE_CHECK(k >= 1 && x.rows() > k, "kth_neighbour_distance: need more than k = ", k, " rows, got ", x.rows());
  Eigen::VectorXd out(x.rows());
  std::vector<double> row(x.rows());
  for (int64_t at = 0; at < x.rows(); at += 512) {
    const int64_t n = std::min<int64_t>(512, x.rows() - at);
    const Eigen::MatrixXd d = squared_distances(x.middleRows(at, n), x);
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t j = 0; j < x.rows(); ++j) row[j] = d(i, j);
      row[at + i] = -1;  // the point itself sorts first, whatever rounding left there
      std::nth_element(row.begin(), row.begin() + k, row.end());
      out(at + i) = std::sqrt(std::max(0.0, row[k]));
    }
  }
  return out;
}

PrecisionRecall precision_recall(const FeatureMatrix& real, const FeatureMatrix& fake, int64_t k) {
  PROMOE_CHECK(real.cols() == fake.cols(), "precision_recall: feature widths differ");
  return {coverage(fake, real, kth_neighbour_distance(real, k)), coverage(real, fake, kth_neighbour_distance(fake, k))};
}

}  // namespace promoe::eval
