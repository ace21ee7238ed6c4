// Facts about the machine and this process that drivers report or act on: the
// OpenBLAS core type worth forcing (see linalg/blas.h), hardware threads, host
// name, peak memory.
// Stateless; safe from any thread.
#pragma once

#include <string>

namespace lancer {

// OPENBLAS_CORETYPE value that is faster on this CPU than the one OpenBLAS
// picks, or nullptr when its own choice is right.
const char* better_openblas_coretype();
int hardware_threads();
// For programs: when better_openblas_coretype() has an answer and
// OPENBLAS_CORETYPE is unset, sets it and re-executes /proc/self/exe with
// argv; returns (doing nothing) otherwise or if exec fails.
void reexec_with_better_openblas(char** argv);
// This machine's host name.
std::string host_name();
// The process's peak resident memory so far, in MB.
double peak_rss_mb();

}  // namespace lancer
