// Owns the command line: parses it with CLI11 and runs one subcommand.
// Call from the main thread only.
#pragma once

namespace sqtail::cli {

int main(int argc, char** argv);

}  // namespace sqtail::cli
