// Everything lives in the header as inline functions and constants; SwiftPM
// needs one source file to build a C target.
#include "CUserfaultfd.h"
