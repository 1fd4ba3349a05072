// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * seccomp_probe.c: loads the agent's own syscall filter (user/sandbox.c, the function
 * relayguardd calls after its privilege drop) and then makes one call: `allowed` (getpid,
 * write: the filter lets the process on, exit 0), `thread` (a thread started and joined,
 * as the configuration loader does: exit 0), `execve`, `ptrace` or `fork` (forbidden: the
 * kernel kills it with SIGSYS before the call returns). Exit 2 if the forbidden call
 * returned, 3 if the filter could not be loaded. For tests/e2e/agent.sh and reload.sh.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <unistd.h>

#include "sandbox.h"

static void *thread_main(void *arg)
{
	/* Memory of its own arena, as the loader's parse takes. */
	void *p = malloc(1 << 20);

	free(p);
	return arg;
}

int main(int argc, char **argv)
{
	char *const args[] = { "/bin/true", NULL };

	if (argc != 2)
		return 64;
	/* What the agent has set by then; loading a filter unprivileged requires it. */
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	if (rg_seccomp_install())
		return 3;
	if (!strcmp(argv[1], "allowed"))
		return getpid() > 0 && write(1, "alive\n", 6) == 6 ? 0 : 1;
	if (!strcmp(argv[1], "thread")) {
		pthread_t t;
		void *ret = NULL;

		if (pthread_create(&t, NULL, thread_main, argv) || pthread_join(t, &ret))
			return 1;
		return ret == argv && write(1, "alive\n", 6) == 6 ? 0 : 1;
	}
	if (!strcmp(argv[1], "fork"))
		fork();
	else if (!strcmp(argv[1], "execve"))
		execve(args[0], args, NULL);
	else if (!strcmp(argv[1], "ptrace"))
		ptrace(PTRACE_TRACEME, 0, NULL, NULL);
	return 2;
}
