// Named points on durability boundaries, where the crash suite
// (tools/crash-suite) kills the process deterministically: with
// DR_CRASH_AT="NAME:N" in the environment, the Nth time this process reaches
// CrashPoint("NAME") it is killed with SIGKILL, as a power cut or kill -9 at
// exactly that moment would. Several points: "A:1,B:3".
//
// Compiled in only with the CMake option DR_CRASH_POINTS (on by default in
// this development build; a packaged build turns it off and every call is
// an empty inline function). Without the variable a call costs one load of a
// flag.
#pragma once

namespace dr {

#ifdef DR_CRASH_POINTS
void CrashPoint(const char* name);
#else
inline void CrashPoint(const char*) {}
#endif

}  // namespace dr
