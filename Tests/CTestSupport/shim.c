#include "CTestSupport.h"
#include "ForkLock.h"

pthread_mutex_t ct_fork_mutex = PTHREAD_MUTEX_INITIALIZER;
