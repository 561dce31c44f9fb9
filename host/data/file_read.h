// Shared first steps of every ae reader: the file must exist, be a regular file and not be empty,
// and each refusal names the path, so "ae encode --data typo.csv" says what is wrong in one line.
#pragma once

#include <cstdint>
#include <string>

namespace ae {

// Size in bytes of a regular, non-empty file. Throws ae::Error "path: no such file",
// "path: is a directory ...", "path: empty file (0 bytes) ...". `kind` says what was expected
// ("a CSV file", "an NPY file") for the messages.
uint64_t input_file_size(const std::string& path, const char* kind);

// The whole file as bytes (after the checks above); read errors name the path.
std::string read_whole_file(const std::string& path, const char* kind);

// Up to n bytes from the start of the file (fewer when it is shorter), after the checks above.
std::string read_file_prefix(const std::string& path, size_t n, const char* kind);

// Reads exactly n bytes at `offset` into dst (the caller checked the size); throws naming the path.
void read_file_at(const std::string& path, uint64_t offset, void* dst, size_t n);  // dst: [n]

}  // namespace ae
