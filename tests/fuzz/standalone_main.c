// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * standalone_main.c: main() for a fuzz target built without libFuzzer, so the regression
 * suite can replay corpora and reproducers under ASan+UBSan with no fuzzing engine.
 * Takes files or directories (every regular file in them); feeds each whole file to
 * LLVMFuzzerTestOneInput once. Reports "replayed N inputs" and exits 0; a finding aborts
 * through the sanitizers (or the target's own invariant check) with a non-zero status.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static unsigned long replayed;

static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t cap = 0, len = 0;
	int err = 0;

	if (!f) {
		perror(path);
		return -1;
	}
	for (;;) {
		if (len == cap) {
			uint8_t *nb = realloc(buf, cap ? cap * 2 : 4096);

			if (!nb) {
				err = -1;
				goto out;
			}
			buf = nb;
			cap = cap ? cap * 2 : 4096;
		}
		size_t n = fread(buf + len, 1, cap - len, f);

		len += n;
		if (n == 0)
			break;
	}
	if (ferror(f)) {
		perror(path);
		err = -1;
		goto out;
	}
	/* An exact-size copy: ASan then catches a read one byte past the input. */
	uint8_t *exact = malloc(len ? len : 1);

	if (!exact) {
		err = -1;
		goto out;
	}
	memcpy(exact, buf, len);
	fprintf(stderr, "replay %s (%zu bytes)\n", path, len);
	LLVMFuzzerTestOneInput(exact, len);
	free(exact);
	replayed++;
out:
	free(buf);
	fclose(f);
	return err;
}

static int replay_path(const char *path)
{
	struct stat st;
	struct dirent **ents;
	int n, err = 0;

	if (stat(path, &st)) {
		perror(path);
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		return replay_file(path);
	n = scandir(path, &ents, NULL, alphasort);
	if (n < 0) {
		perror(path);
		return -1;
	}
	for (int i = 0; i < n; i++) {
		if (ents[i]->d_name[0] != '.') {
			char sub[4096];

			if ((size_t)snprintf(sub, sizeof(sub), "%s/%s", path, ents[i]->d_name) >=
			    sizeof(sub))
				err = -1;
			else if (replay_path(sub))
				err = -1;
		}
		free(ents[i]);
	}
	free(ents);
	return err;
}

int main(int argc, char **argv)
{
	int err = 0;

	if (LLVMFuzzerInitialize)
		LLVMFuzzerInitialize(&argc, &argv);
	for (int i = 1; i < argc; i++)
		if (replay_path(argv[i]))
			err = 1;
	printf("replayed %lu inputs\n", replayed);
	return err;
}
