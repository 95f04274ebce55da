// dragent: the capture agent. The same backup and restore commands as drctl,
// through a vault (tools/drctl/app.cc).
#include "tools/drctl/cli.h"

int main(int argc, char** argv) { return dr::cli::RunApp(argc, argv, /*agent=*/true); }
