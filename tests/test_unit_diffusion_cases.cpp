// The diffusion losses against the PyTorch twin's case files (tests/cases/*.safetensors): given the
// case's input.x0 / input.noise / input.sigma or input.t and its output.model_out, the noised input
// and loss.mse / loss.vlb must match to the parity tolerances (1e-5 relative). The model itself is
// not involved; this pins the objectives alone.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "autograd/ops.h"
#include "diffusion/gaussian_diffusion.h"
#include "diffusion/rectified_flow.h"
#include "io/safetensors.h"

using namespace promoe;
using namespace promoe::diffusion;

namespace {

double rel_err(const Tensor& a, const Tensor& b) {
  std::vector<double> x = a.to_vector<double>(), y = b.to_vector<double>();
  REQUIRE(x.size() == y.size());
  double num = 0, den = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    num += (x[i] - y[i]) * (x[i] - y[i]);
    den += y[i] * y[i];
  }
  return std::sqrt(num) / std::max(std::sqrt(den), 1e-30);
}

std::vector<std::string> case_files() {
  std::vector<std::string> files;
  const std::filesystem::path dir = std::filesystem::path(PROMOE_SOURCE_DIR) / "tests" / "cases";
  if (!std::filesystem::exists(dir)) return files;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().extension() == ".safetensors") files.push_back(e.path().string());
  return files;
}

}  // namespace

TEST_CASE("diffusion: RF and DDPM losses match the twin's case files") {
  const std::vector<std::string> files = case_files();
  int rf = 0, ddpm = 0;
  for (const std::string& f : files) {
    io::SafeTensors c = io::read_safetensors(f);
    if (!c.has_metadata("objective") || !c.has("output.model_out") || !c.has("loss.mse")) continue;
    CAPTURE(f);
    const std::string objective = c.metadata("objective");
    const Tensor& x0 = c.get("input.x0");
    const Tensor& noise = c.get("input.noise");
    const Tensor& out = c.get("output.model_out");
    if (objective == "rf") {
      ++rf;
      const Tensor& sigma = c.get("input.sigma");
      CHECK(rel_err(rf_model_time(sigma), c.get("input.t")) < 1e-6);
      CHECK(rel_err(rf_interpolate(x0, sigma, noise), c.get("input.x_t")) < 1e-6);
      CHECK(rel_err(rf_mse_loss(out, x0, noise), c.get("loss.mse")) < 1e-5);
    } else if (objective == "ddpm") {
      ++ddpm;
      GaussianDiffusion d = GaussianDiffusion::create("");
      Tensor t = c.get_index("input.t");
      Tensor x_t = d.q_sample(x0, t, noise);
      CHECK(rel_err(x_t, c.get("input.x_t")) < 1e-6);
      DDPMLoss r = d.losses_from_output(out, x0, c.get("input.x_t"), t, noise);
      CHECK(rel_err(r.mse, c.get("loss.mse")) < 1e-5);
      REQUIRE(c.has("loss.vlb"));
      CHECK(rel_err(r.vlb, c.get("loss.vlb")) < 1e-5);
    }
  }
  MESSAGE("checked ", rf, " RF and ", ddpm, " DDPM case files");
  if (files.empty()) MESSAGE("no case files under tests/cases; nothing checked");
}
