// Sample-quality metrics on feature vectors (rows of an N x D matrix), each a pure function:
//   Fréchet distance   |mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a^1/2 S_b S_a^1/2)^1/2)  (FID's formula)
//   KID                unbiased MMD^2 with the kernel (a.b / D + 1)^3, mean and std over random
//                      subsets (Bińkowski et al. 2018, the torch-fidelity / clean-fid convention)
//   precision, recall  k-NN manifolds (Kynkäänniemi et al. 2019): the share of one set's points
//                      inside the union of the other set's k-th-neighbour balls
// The matrix square root goes through a symmetric eigensolver (the product above is symmetric
// positive semi-definite), so the result is real without the imaginary-part clean-up of scipy's sqrtm.
#pragma once
#include <Eigen/Dense>
#include <cstdint>

namespace promoe::eval {

using FeatureMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;  // (N, D)

struct Gaussian {
  Eigen::VectorXd mean;  // (D)
  Eigen::MatrixXd cov;   // (D, D), unbiased (N - 1)
};
// Mean and covariance of the rows; at least two rows.
Gaussian fit_gaussian(const FeatureMatrix& x);
double frechet_distance(const Gaussian& a, const Gaussian& b);

struct Kid {
  double mean = 0, std = 0;  // over subsets; std is the population std of the subset values
};
// `subsets` draws of min(subset_size, rows) rows from each set, without replacement, seeded.
Kid kernel_inception_distance(const FeatureMatrix& a, const FeatureMatrix& b, int64_t subsets = 100,
                              int64_t subset_size = 1000, uint64_t seed = 0);
// The unbiased MMD^2 of the two whole sets (one subset value).
double kid_mmd2(const FeatureMatrix& a, const FeatureMatrix& b);

struct PrecisionRecall {
  double precision = 0, recall = 0;
};
// real and fake with at least k + 1 rows each.
PrecisionRecall precision_recall(const FeatureMatrix& real, const FeatureMatrix& fake, int64_t k = 3);

// The distance from each row of x to its k-th nearest other row of x (k >= 1).
Eigen::VectorXd kth_neighbour_distance(const FeatureMatrix& x, int64_t k);

}  // namespace promoe::eval
