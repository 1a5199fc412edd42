// Host-side checks of the CUDA backend's GEMM plan (cuda/gemm_plan.h): transposes, leading dims and
// fallbacks, with cuBLAS replaced by a reference GEMM, against the CPU matmul and grouped_matmul.
#include <doctest/doctest.h>

#include "cuda_math_test_util.h"
#include "fused_ops.h"
#include "random_views.h"

using namespace cuda_math_test;

// ---------------------------------------------------------------------------------------------
// Matrix products

namespace {

// Reference column-major GEMM with BLAS semantics (C is not read when beta == 0).
template <typename T>
void ref_gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha, const T* A, int64_t lda, const T* B,
              int64_t ldb, T beta, T* C, int64_t ldc) {
  for (int64_t j = 0; j < n; ++j)
    for (int64_t i = 0; i < m; ++i) {
      T acc = 0;
      for (int64_t l = 0; l < k; ++l)
        acc += (ta ? A[l + i * lda] : A[i + l * lda]) * (tb ? B[j + l * ldb] : B[l + j * ldb]);
      T& c = C[i + j * ldc];
      c = beta == T(0) ? alpha * acc : alpha * acc + beta * c;
    }
}

pc::gemm::Mat mat_of(const Tensor& t) { return {t.size(1), t.size(2), t.stride(1), t.stride(2)}; }

// CudaBackend::matmul with cuBLAS replaced by ref_gemm (same plan, same fallbacks).
void emulate_matmul(const Tensor& out, const Tensor& a, const Tensor& b, double alpha, double beta) {
  using pc::gemm::Layout;
  auto usable = [](const Tensor& t) { return pc::gemm::layout_of(mat_of(t)) != Layout::None; };
  const Tensor A = usable(a) ? a : raw::contiguous(a);
  const Tensor B = usable(b) ? b : raw::contiguous(b);
  const int64_t batch = out.size(0);
  const bool out_ok = usable(out) && (batch == 1 || out.stride(0) != 0);
  const Tensor O = out_ok ? out : Tensor::empty(out.shape(), out.dtype());
  if (!out_ok && beta != 0) cpu().copy(O, out);
  const pc::gemm::Plan p = pc::gemm::plan(mat_of(A), mat_of(B), mat_of(O));
  const Tensor& first = p.swap ? B : A;
  const Tensor& second = p.swap ? A : B;
  // BLAS argument rules.
  CHECK(p.ld_first >= std::max<int64_t>(1, p.trans_first ? p.k : p.m));
  CHECK(p.ld_second >= std::max<int64_t>(1, p.trans_second ? p.n : p.k));
  CHECK(p.ldc >= std::max<int64_t>(1, p.m));
  for (int64_t i = 0; i < batch; ++i)
    ref_gemm<double>(p.trans_first, p.trans_second, p.m, p.n, p.k, alpha, first.data<double>() + i * first.stride(0),
                     p.ld_first, second.data<double>() + i * second.stride(0), p.ld_second, beta,
                     O.data<double>() + i * O.stride(0), p.ldc);
  if (!O.same(out)) cpu().copy(out, O);
}

// The CUDA moe.grouped_matmul kernel (cuda/grouped_matmul.cu) with cuBLAS replaced by ref_gemm: a product whose
// operands are all usable in place joins the grouped call with its plan, the others go through matmul.
void emulate_grouped_matmul(const std::vector<Tensor>& outs, const std::vector<Tensor>& as,
                            const std::vector<Tensor>& bs) {
  auto mat2 = [](const Tensor& t) { return pc::gemm::Mat{t.size(0), t.size(1), t.stride(0), t.stride(1)}; };
  for (size_t i = 0; i < outs.size(); ++i) {
    if (!pc::gemm::in_place(mat2(as[i]), mat2(bs[i]), mat2(outs[i]))) {
      emulate_matmul(raw::unsqueeze(outs[i], 0), raw::unsqueeze(as[i], 0), raw::unsqueeze(bs[i], 0), 1.0, 0.0);
      continue;
    }
    const pc::gemm::Plan p = pc::gemm::plan(mat2(as[i]), mat2(bs[i]), mat2(outs[i]));
    const Tensor& first = p.swap ? bs[i] : as[i];
    const Tensor& second = p.swap ? as[i] : bs[i];
    ref_gemm<double>(p.trans_first, p.trans_second, p.m, p.n, p.k, 1.0, first.data<double>(), p.ld_first,
                     second.data<double>(), p.ld_second, 0.0, outs[i].data<double>(), p.ldc);
  }
}

}  // namespace

TEST_CASE("cuda math: grouped products (in place through the plan, or through matmul) match the CPU") {
  Generator gen(14);
  // Products of different sizes over every operand layout; outputs are row windows of one buffer,
  // a column-major view or a view of stride 2 (which needs matmul's copy).
  std::vector<Tensor> as, bs;
  std::vector<int64_t> ms;
  for (int ka = 0; ka < 5; ++ka)
    for (int kb = 0; kb < 5; ++kb) {
      const int64_t m = 1 + (ka * 5 + kb) % 7, k = 1 + (ka + 2 * kb) % 5, n = 6;
      as.push_back(raw::select(promoe::test::gemm_operand(gen, 1, m, k, ka, DType::F64), 0, 0));
      bs.push_back(raw::select(promoe::test::gemm_operand(gen, 1, k, n, kb, DType::F64), 0, 0));
      ms.push_back(m);
    }
  auto outputs = [&](Tensor& buf) {
    int64_t rows = 0;
    for (int64_t m : ms) rows += m;
    buf = raw::zeros({rows, 6}, DType::F64);
    std::vector<Tensor> outs;
    int64_t at = 0;
    for (size_t i = 0; i < ms.size(); ++i) {
      if (i % 5 == 3)
        outs.push_back(raw::transpose(Tensor::empty({6, ms[i]}, DType::F64), 0, 1));
      else if (i % 5 == 4)
        outs.push_back(Tensor::view_of(Tensor::empty({ms[i], 12}, DType::F64), {ms[i], 6}, {12, 2}, 0));
      else
        outs.push_back(raw::narrow(buf, 0, at, ms[i]));
      at += ms[i];
    }
    return outs;
  };
  Tensor want_buf, got_buf;
  std::vector<Tensor> want = outputs(want_buf), got = outputs(got_buf);
  test::cpu_kernel(moe::fused::grouped_matmul_op)(want, as, bs);
  emulate_grouped_matmul(got, as, bs);
  for (size_t i = 0; i < want.size(); ++i)
    check_close(raw::contiguous(got[i]), raw::contiguous(want[i]), 1e-12, 1e-12,
                "grouped product " + std::to_string(i));
  CHECK(pc::gemm::in_place({4, 5, 5, 1}, {5, 3, 1, 5}, {4, 3, 3, 1}));
  CHECK_FALSE(pc::gemm::in_place({4, 5, 5, 1}, {5, 3, 1, 5}, {4, 3, 6, 2}));
}

TEST_CASE("cuda math: the GEMM plan (transposes, leading dims, fallbacks) reproduces the CPU matmul") {
  Generator gen(13);
  struct Dims {
    int64_t bt, m, k, n;
  };
  const Dims dims[] = {{1, 4, 5, 3}, {3, 4, 5, 3}, {2, 1, 6, 4}, {2, 5, 1, 3}, {2, 4, 6, 1}, {1, 1, 1, 1}};
  for (const Dims& d : dims)
    for (int ka = 0; ka < 6; ++ka)
      for (int kb = 0; kb < 6; ++kb)
        for (int ko = 0; ko < 3; ++ko)
          for (double beta : {0.0, 0.5}) {
            Tensor a = promoe::test::gemm_operand(gen, d.bt, d.m, d.k, ka, DType::F64),
                   b = promoe::test::gemm_operand(gen, d.bt, d.k, d.n, kb, DType::F64);
            Tensor init = gen.randn({d.bt, d.m, d.n}, DType::F64);
            auto out_view = [&]() {
              if (ko == 0) return raw::clone(init);
              if (ko == 1) {  // column-major output
                Tensor o = raw::transpose(Tensor::empty({d.bt, d.n, d.m}, DType::F64), 1, 2);
                cpu().copy(o, init);
                return o;
              }
              Tensor base = Tensor::empty({d.bt, d.m, 2 * d.n}, DType::F64);  // neither: stride 2
              Tensor o = Tensor::view_of(base, {d.bt, d.m, d.n}, {d.m * 2 * d.n, 2 * d.n, 2}, 0);
              cpu().copy(o, init);
              return o;
            };
            Tensor want = out_view(), got = out_view();
            cpu().matmul(want, a, b, 1.5, beta);
            emulate_matmul(got, a, b, 1.5, beta);
            check_close(got, want, 1e-12, 1e-12,
                        "matmul b" + std::to_string(d.bt) + " m" + std::to_string(d.m) + " k" + std::to_string(d.k) +
                            " n" + std::to_string(d.n) + " layouts " + std::to_string(ka) + std::to_string(kb) +
                            std::to_string(ko) + " beta " + std::to_string(beta));
          }
  using pc::gemm::Layout;
  CHECK(pc::gemm::layout_of({4, 5, 5, 1}) == Layout::Row);
  CHECK(pc::gemm::layout_of({4, 5, 1, 4}) == Layout::Col);
  CHECK(pc::gemm::layout_of({4, 5, 10, 2}) == Layout::None);
  CHECK(pc::gemm::layout_of({4, 5, 0, 1}) == Layout::None);  // broadcast rows cannot be a BLAS operand
}
