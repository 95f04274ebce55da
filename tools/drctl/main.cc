// drctl: the administrator's command line. Each command lives in its own
// file beside this one; app.cc wires them together.
#include "tools/drctl/cli.h"

int main(int argc, char** argv) { return dr::cli::RunApp(argc, argv, /*agent=*/false); }
