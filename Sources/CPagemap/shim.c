#include "CPagemap.h"
