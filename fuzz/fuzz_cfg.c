/*
 * fuzz_cfg.c - libFuzzer target: the config parser (common/cfg.c) with a
 * table holding every value type, then -o style overrides.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct cfg_def defs[] = {
	{ "listen", "l", CFG_STR, "inet:127.0.0.1:1", 0, 0, NULL, "" },
	{ "mode", "m", CFG_ENUM, "a", 0, 0, "a|b|No_Check", "" },
	{ "n", NULL, CFG_INT, "1", -5, 1000, NULL, "" },
	{ "flag", NULL, CFG_BOOL, "no", 0, 0, NULL, "" },
	{ "t", NULL, CFG_TIME, "5s", 0, 86400000LL, NULL, "" },
	{ "list", "servers", CFG_LIST, "x,y", 0, 0, NULL, "" },
	CFG_END
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cfg *c = cfg_new(defs);
	const char *err;
	char *s;

	(void)cfg_parse_text(c, (const char *)data, size, "fuzz", &err);
	s = malloc(size + 1);
	memcpy(s, data, size);
	s[size] = '\0';
	(void)cfg_override(c, s, &err);
	free(s);
	cfg_unref(&c);
	return 0;
}
