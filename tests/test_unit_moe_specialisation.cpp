// Expert specialisation (moe/specialisation.h): mutual information of class x expert counts.
#include <doctest/doctest.h>

#include <cmath>

#include "expect_error.h"
#include "moe/specialisation.h"

using namespace promoe;

TEST_CASE("specialisation: independent routing gives 0, one expert per class gives log(classes)") {
  // Every class spread over the experts in the same proportions: independent.
  moe::Specialisation none = moe::class_expert_specialisation({{1, 2, 3}, {2, 4, 6}, {10, 20, 30}});
  CHECK(none.mutual_information == doctest::Approx(0.0).epsilon(1e-12));
  CHECK(none.normalised == doctest::Approx(0.0).epsilon(1e-12));
  // A permutation: class c always goes to expert (c + 1) % 3.
  moe::Specialisation full = moe::class_expert_specialisation({{0, 5, 0}, {0, 0, 5}, {5, 0, 0}});
  CHECK(full.mutual_information == doctest::Approx(std::log(3.0)));
  CHECK(full.normalised == doctest::Approx(1.0));
  // Hand-computed: p = [[1/2, 0], [1/4, 1/4]]; p(c) = (1/2, 1/2), p(e) = (3/4, 1/4):
  // I = 1/2 log(4/3) + 1/4 log(2/3) + 1/4 log(2) ; H(class) = log 2.
  moe::Specialisation some = moe::class_expert_specialisation({{2, 0}, {1, 1}});
  const double mi = 0.5 * std::log(4.0 / 3.0) + 0.25 * std::log(2.0 / 3.0) + 0.25 * std::log(2.0);
  CHECK(some.mutual_information == doctest::Approx(mi).epsilon(1e-12));
  CHECK(some.normalised == doctest::Approx(mi / std::log(2.0)).epsilon(1e-12));
  CHECK(moe::class_expert_specialisation({{0, 0}, {0, 0}}).mutual_information == 0.0);
  test::expect_error([] { moe::class_expert_specialisation({{1, 2}, {3}}); }, {"row 1 has 1 experts"});
  test::expect_error([] { moe::class_expert_specialisation({{1, -2}}); }, {"count [0][1]"});
}
