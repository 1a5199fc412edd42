# CUDA tests (label `cuda`): the CUDA backend against the CPU backend on random inputs. Included
# from tests/CMakeLists.txt; builds only when the CUDA backend does. Without a GPU the binary prints
# "SKIPPED: no CUDA GPU" and exits 0, which ctest reports as a skipped test.
# (The host-side checks of the kernels' math, tests/test_unit_cuda_math.cpp, are part of the
# `unit` binary through its test_unit_*.cpp glob and run everywhere.)
if(PROMOE_WITH_CUDA)
  add_executable(cuda_tests ${CMAKE_CURRENT_LIST_DIR}/test_cuda_backend.cpp ${CMAKE_CURRENT_LIST_DIR}/test_cuda_attention.cpp
                          ${CMAKE_CURRENT_LIST_DIR}/test_cuda_matmul.cpp ${CMAKE_CURRENT_LIST_DIR}/test_cuda_moe.cpp)
  target_link_libraries(cuda_tests PRIVATE promoe_lib doctest::doctest)
  add_test(NAME cuda_tests COMMAND cuda_tests)
  set_tests_properties(cuda_tests PROPERTIES
    LABELS cuda
    SKIP_REGULAR_EXPRESSION "SKIPPED: no CUDA GPU"
    ENVIRONMENT "OMP_NUM_THREADS=1")
endif()
