/*
 * replay.c - run a fuzz target over files without libFuzzer, so the seed
 * corpora are regression tests in "make check" (and under ASan/UBSan in
 * the --enable-sanitizers build).
 *
 * Usage: fuzz_NAME_replay FILE|DIR...   prints TAP, one line per file.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REPLAY_FILE_MAX (1024 * 1024)

static int n;

/* run_file - one input */
static void run_file(const char *path)
{
	FILE *fp = fopen(path, "rb");
	uint8_t *buf;
	size_t len;

	if (fp == NULL) {
		printf("not ok %d - %s: cannot open\n", ++n, path);
		return;
	}
	buf = malloc(REPLAY_FILE_MAX);
	len = fread(buf, 1, REPLAY_FILE_MAX, fp);
	fclose(fp);
	LLVMFuzzerTestOneInput(buf, len);
	free(buf);
	printf("ok %d - %s\n", ++n, path);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		struct stat st;
		DIR *d;
		struct dirent *e;

		if (stat(argv[i], &st) < 0 || !S_ISDIR(st.st_mode)) {
			run_file(argv[i]);
			continue;
		}
		if ((d = opendir(argv[i])) == NULL)
			continue;
		while ((e = readdir(d)) != NULL) {
			char path[4096];

			if (e->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", argv[i],
			    e->d_name);
			run_file(path);
		}
		closedir(d);
	}
	printf("1..%d\n", n);
	return 0;
}
