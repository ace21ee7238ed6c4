// Facts about the machine and this process that drivers report: hardware
// threads, host name, peak memory.
// Stateless; safe from any thread.
#pragma once

#include <string>

namespace lancer {

int hardware_threads();
// This machine's host name.
std::string host_name();
// The process's peak resident memory so far, in MB.
double peak_rss_mb();

}  // namespace lancer
