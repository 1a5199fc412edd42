// The metrics of `promoe eval` (eval/metrics.h) against closed forms and against goldens that
// numpy/scipy computed from the definitions (tests/data/make_eval_metrics.py).
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "eval/metrics.h"

using namespace promoe;
using eval::FeatureMatrix;

namespace {

FeatureMatrix matrix_of(const nlohmann::json& rows) {
  FeatureMatrix m(int64_t(rows.size()), int64_t(rows[0].size()));
  for (int64_t i = 0; i < m.rows(); ++i)
    for (int64_t j = 0; j < m.cols(); ++j) m(i, j) = rows[i][j].get<double>();
  return m;
}

nlohmann::json golden() {
  std::ifstream in(std::filesystem::path(PROMOE_SOURCE_DIR) / "tests" / "data" / "eval_metrics.json");
  REQUIRE(in);
  return nlohmann::json::parse(in);
}

}  // namespace

TEST_CASE("eval metrics: Fréchet distance, MMD^2 and precision/recall equal numpy/scipy's") {
  nlohmann::json g = golden();
  const FeatureMatrix a = matrix_of(g["a"]), b = matrix_of(g["b"]);
  CHECK(eval::frechet_distance(eval::fit_gaussian(a), eval::fit_gaussian(b)) ==
        doctest::Approx(g["fd"].get<double>()).epsilon(1e-9));
  CHECK(eval::kid_mmd2(a, b) == doctest::Approx(g["mmd2"].get<double>()).epsilon(1e-12));
  const eval::PrecisionRecall pr = eval::precision_recall(a, b, g["k"].get<int64_t>());
  CHECK(pr.precision == doctest::Approx(g["precision"].get<double>()));
  CHECK(pr.recall == doctest::Approx(g["recall"].get<double>()));
  // KID over subsets as large as the sets is the whole-set value, with no spread.
  const eval::Kid kid = eval::kernel_inception_distance(a, b, 3, 1000, 5);
  CHECK(kid.mean == doctest::Approx(g["mmd2"].get<double>()).epsilon(1e-12));
  CHECK(kid.std == doctest::Approx(0.0).epsilon(1e-12));
}

TEST_CASE("eval metrics: the Fréchet distance of Gaussians has its closed form") {
  // Diagonal covariances commute: FD = |mu_a - mu_b|^2 + sum_i (sigma_a,i - sigma_b,i)^2.
  eval::Gaussian a{Eigen::Vector3d(1, 0, -2), Eigen::Vector3d(4, 1, 9).asDiagonal()};
  eval::Gaussian b{Eigen::Vector3d(0, 2, -2), Eigen::Vector3d(1, 1, 0.25).asDiagonal()};
  CHECK(eval::frechet_distance(a, b) == doctest::Approx(1 + 4 + 1 + 0 + 6.25).epsilon(1e-12));
  // Rotating both covariances by one orthogonal matrix changes nothing (a non-diagonal case).
  const double c = std::cos(0.7), s = std::sin(0.7);
  Eigen::Matrix3d q;
  q << c, -s, 0, s, c, 0, 0, 0, 1;
  eval::Gaussian ra{q * a.mean, q * a.cov * q.transpose()}, rb{q * b.mean, q * b.cov * q.transpose()};
  CHECK(eval::frechet_distance(ra, rb) == doctest::Approx(12.25).epsilon(1e-10));
  CHECK(std::abs(eval::frechet_distance(ra, ra)) < 1e-10);
  // Singular covariances (a rank-1 set of features) still give a finite, exact answer.
  eval::Gaussian p{Eigen::Vector2d(0, 0), Eigen::Matrix2d::Zero()}, r{Eigen::Vector2d(0, 0), Eigen::Matrix2d::Zero()};
  p.cov(0, 0) = 4;
  r.cov(0, 0) = 1;
  CHECK(eval::frechet_distance(p, r) == doctest::Approx(1.0).epsilon(1e-12));
}

TEST_CASE("eval metrics: KID is near 0 for one distribution and grows with a shift") {
  Eigen::MatrixXd noise = Eigen::MatrixXd::Random(800, 8);  // Eigen's own seeded generator
  const FeatureMatrix x = noise.topRows(400), y = noise.bottomRows(400);
  const eval::Kid same = eval::kernel_inception_distance(x, y, 20, 200, 1);
  const FeatureMatrix shifted = y.array() + 0.5;
  const eval::Kid apart = eval::kernel_inception_distance(x, shifted, 20, 200, 1);
  CHECK(std::abs(same.mean) < 3 * same.std + 1e-3);
  CHECK(apart.mean > 10 * std::abs(same.mean));
  CHECK(apart.std > 0);
}

TEST_CASE("eval metrics: k-NN radii, and precision/recall of identical and disjoint sets") {
  FeatureMatrix line(5, 1);
  line << 0, 1, 3, 6, 10;
  Eigen::VectorXd r1 = eval::kth_neighbour_distance(line, 1), r2 = eval::kth_neighbour_distance(line, 2);
  CHECK(r1(0) == 1);
  CHECK(r1(2) == 2);
  CHECK(r1(4) == 4);
  CHECK(r2(0) == 3);
  CHECK(r2(2) == 3);
  eval::PrecisionRecall same = eval::precision_recall(line, line, 1);
  CHECK(same.precision == 1.0);
  CHECK(same.recall == 1.0);
  FeatureMatrix far = line.array() + 100;
  eval::PrecisionRecall apart = eval::precision_recall(line, far, 1);
  CHECK(apart.precision == 0.0);
  CHECK(apart.recall == 0.0);
  // Half the fake points on real ones, half far away: precision 1/2. Fake radii (k = 1) are 1, 1,
  // 10, 10, so of the real points only 0 and 1 are covered: recall 2/5.
  FeatureMatrix half(4, 1);
  half << 0, 1, 50, 60;
  eval::PrecisionRecall mixed = eval::precision_recall(line, half, 1);
  CHECK(mixed.precision == 0.5);
  CHECK(mixed.recall == doctest::Approx(0.4));
}
