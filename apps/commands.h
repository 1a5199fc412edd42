// The `promoe` subcommands. Each add_* registers its options on the app and the action to run.
#pragma once
#include <CLI/CLI.hpp>

namespace promoe::apps {

void add_train_command(CLI::App& app);
void add_sample_command(CLI::App& app);
void add_info_command(CLI::App& app);
void add_check_command(CLI::App& app);
void add_bench_command(CLI::App& app);
void add_routing_command(CLI::App& app);
void add_eval_command(CLI::App& app);
// argv is recorded in the ablation's report as the command that reproduces it.
void add_ablate_command(CLI::App& app, int argc, char** argv);
void add_decode_command(CLI::App& app);
void add_encode_command(CLI::App& app);
void add_import_command(CLI::App& app);
void add_export_command(CLI::App& app);
void add_latents_command(CLI::App& app);

// Creates the directory a file is to be written to, if it has one that does not exist yet.
void make_parent_directory(const std::string& path);

// Sets the OpenMP and Eigen thread counts (0 = leave the defaults).
void set_threads(int threads);
// The largest --threads accepted: 4 threads per CPU (more only oversubscribes, and libgomp crashes
// on some very large counts).
int max_threads();
// Registers --threads on `cmd`, ranged to [0, max_threads()].
void add_threads_option(CLI::App* cmd, int& threads);
// Re-executes the program with a short OpenMP spin-wait unless the user chose one (apps/threads.cpp).
void tune_openmp_wait(char** argv);

}  // namespace promoe::apps
